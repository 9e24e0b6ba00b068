/* wsg_rules_int: the in-memory form of parsed rules and of the compiled index, shared by the
 * parser (wsg_rules.c) and the matcher (wsg_rules_match.c). Not a public interface. */
#ifndef WSG_RULES_INT_H
#define WSG_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <stdint.h>
#include <pcre2.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include "wsg_rules.h"

/* Fields a condition can test. */
enum {
    WSG_F_METHOD, WSG_F_PATH, WSG_F_BASENAME, WSG_F_EXT, WSG_F_DIR, WSG_F_QUERY, WSG_F_ARGS,
    WSG_F_UA, WSG_F_N
};

/* Operators. The set forms ("in", "prefix-in", ...) are the same operators with several literals. */
enum { WSG_OP_EQ, WSG_OP_PREFIX, WSG_OP_SUFFIX, WSG_OP_CONTAINS, WSG_OP_RE };

typedef struct wsg_lit_t {
    const char *s;          /* lower-case */
    apr_size_t  len;
} wsg_lit_t;

typedef struct wsg_cond_t {
    unsigned char field, op, neg;
    unsigned      nlits;
    wsg_lit_t    *lits;     /* literal ops: any of these (nlits >= 1) */
    pcre2_code   *re;       /* WSG_OP_RE */
    int           jit;      /* JIT compilation succeeded */
    /* built by compile, for literal ops: a subject shorter than minlen, or whose first (eq,
     * prefix) or last (suffix) byte, lower-cased, is not in edge[], cannot hit */
    size_t        minlen;
    uint32_t      edge[8];
} wsg_cond_t;

typedef struct wsg_rule_t {
    wsg_rule_info_t info;
    unsigned        ncond;
    wsg_cond_t     *cond;
    int             anchor; /* index of the condition the rule is indexed by, -1: always evaluated */
} wsg_rule_t;

/* Open-addressing slot of the literal index: a 64-bit key hash (0 = empty) and its postings. */
typedef struct wsg_slot_t {
    uint64_t h;
    uint32_t start, count;
} wsg_slot_t;

/* Aho-Corasick automaton over a reduced alphabet for the "contains" anchors of one field. */
typedef struct wsg_ac_t {
    unsigned       nclass;      /* alphabet size incl. class 0 ("no literal has this byte") */
    unsigned char  cls[256];    /* byte (any case) -> class */
    int32_t       *delta;       /* nstates * nclass */
    int32_t       *dict;        /* next state on the fail chain that has outputs, 0: none */
    uint32_t      *out_start, *out_count;
    uint32_t      *outs;        /* rule indices */
} wsg_ac_t;

enum { WSG_K_EQ = 1, WSG_K_PREFIX, WSG_K_SUFFIX };

/* The precheck of an ungated rule (wsg_rules_match.c, "the gate"): one condition of it, tested
 * before the rule. PRE_EDGE (eq, prefix, suffix): the subject's length and its byte at one
 * position (from the end for a suffix), the position where the literals' bytes are rarest, so
 * "/index.html" fails "/jmx-console/" at once; a pass proves nothing. PRE_AC (contains): a dense
 * automaton of the condition's literals, one table load per subject byte, exact: a pass proves
 * the condition (the rule test skips it). */
enum { WSG_PRE_NONE = 0, WSG_PRE_EDGE, WSG_PRE_AC };
typedef struct wsg_pre_t {
    unsigned char  kind, field, suffix;
    int            cidx;        /* the condition's index in its rule */
    size_t         minlen;
    size_t         pos;         /* PRE_EDGE: byte position tested (< minlen) */
    uint32_t       edge[8];     /* PRE_EDGE: the literals' bytes there (lower-case) */
    const unsigned char *cls;   /* PRE_AC: byte -> class */
    const int32_t *delta;       /* PRE_AC: state (premultiplied by the class count) + class ->
                                 * next state, negative (-next - 1) when a literal ends there */
} wsg_pre_t;

struct wsg_ruleset_t {
    apr_pool_t         *pool;
    apr_array_header_t *rules;      /* wsg_rule_t * in load order */
    apr_hash_t         *by_id;      /* unsigned id -> wsg_rule_t * */
    apr_array_header_t *sources;    /* wsg_rule_source_t of every text loaded */
    int                 compiled;

    /* built by wsg_ruleset_compile */
    wsg_rule_t        **r;
    unsigned            n;
    wsg_slot_t         *slots;
    uint32_t            mask;
    uint32_t           *postings;   /* rule index per posting */
    uint32_t           *post_lit;   /* which literal of the anchor condition */
    unsigned            eq_fields;  /* bit per field that has exact anchors */
    uint16_t           *plens[WSG_F_N], *slens[WSG_F_N];   /* distinct lengths, ascending */
    unsigned            nplens[WSG_F_N], nslens[WSG_F_N];
    wsg_ac_t           *ac[WSG_F_N];
    uint32_t           *always;
    unsigned            nalways;
    /* The gate: the extensions some rule requires (hashes, open addressing, 0 empty) and the few
     * rules that require none. A request whose extension is not in the set can only match those,
     * tested directly. gate_on is 0 when too many rules are ungated to be worth it. */
    int                 gate_on;
    struct wsg_gate_slot_t {
        uint64_t    h;          /* hash of the extension, 0: empty */
        const char *s;          /* the extension (lower-case) */
        size_t      len;
        int         req;        /* some rule requires it: the index decides */
        uint64_t    excl;       /* ungated rules (bit per index in ungated[]) that exclude it
                                 * (!ext.in=...) and need not be tested */
        uint32_t    rule;       /* while building: the rule that requires it */
        /* The rules that require it, when they are few: tested directly, each after its
         * precheck, instead of the index (ndirect 0: the index decides). */
        const uint32_t *direct;
        const struct wsg_pre_t *dpre;
        unsigned    ndirect;
        int         direct_ua;  /* one of them has a User-Agent condition */
    }                  *gate_ext;
    uint32_t            gate_mask;
    /* The same slots for extensions of at most 8 bytes, keyed by the bytes themselves and the
     * length (exact, no text to compare); sl NULL: empty. */
    struct wsg_gate8_t {
        uint64_t                       bytes;
        size_t                         len;
        const struct wsg_gate_slot_t  *sl;
    }                  *gate8;
    unsigned            gate8_shift;   /* 64 - log2(slots) */
    uint32_t           *ungated;
    const struct wsg_pre_t *ungated_pre;    /* per ungated rule: the precheck of a positive
                                             * literal condition that rejects cheaply */
    unsigned            nungated;
    /* The ungated rules with a positive literal condition on the path, its directory, basename
     * or extension (each of whose literals then occurs in the path): one automaton of those
     * literals over the path says which of them can match (bit per index in ungated[]); the
     * others (method, query, User-Agent) are prechecked one by one (ungated_pre). */
    uint64_t            path_rules;
    const unsigned char *path_cls;
    const int64_t       *path_delta;  /* as wsg_pre_t.delta: negative where literals end
                                       * (64-bit: no widening per byte) */
    const uint64_t      *path_mask;   /* per state: the rules whose literals end there */
    unsigned            path_k;       /* classes (to find a state's mask) */
    /* Ungated rules with a positive prefix or eq literal on the path or its directory (each
     * such literal is then a prefix of the path): a trie of those literals walked from the
     * path's first byte, which stops at the first byte no literal continues with, so their
     * number costs nothing (wsg_rules_match.c, build_anchor_gate). They are not in ungated[]
     * and do not count against its 64. */
    const int32_t       *anch_go;     /* state * anch_k + class -> next state, 0: none */
    const unsigned char *anch_cls;    /* byte (any case) -> class, 0: no literal has it */
    unsigned            anch_k;
    const uint32_t      *anch_start, *anch_count;  /* per state: its rules in anch_rules */
    const uint32_t      *anch_rules;  /* rule indices */
    unsigned            anch_n;       /* rules in the trie */
    uint32_t           *other;        /* indices in ungated[] not in path_rules */
    unsigned            nother;
    int                 ungated_ua;  /* an ungated rule has a User-Agent condition */
    pcre2_match_context *mctx;
};

extern const unsigned char wsg_lc[256];

/* Key hash: FNV-1a over lower-cased bytes, finished with kind and field. */
#define WSG_FNV_INIT  0xcbf29ce484222325ULL
#define WSG_FNV_PRIME 0x100000001b3ULL
static inline uint64_t wsg_hash_fin(uint64_t h, unsigned kind, unsigned field)
{
    h ^= (uint64_t)(kind * 16 + field + 1) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

apr_status_t wsg_rules_build_index(wsg_ruleset_t *rs, const char **err);

#endif
