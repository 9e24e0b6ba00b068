/* wsg_report_int.h: what the parts of wsg_report share (private to them; the public interface is
 * wsg_report.h). wsg_report.c owns the model (the per-address aggregate), reading event lines and
 * the format table; wsg_report_anon.c anonymisation; wsg_report_campaign.c campaign grouping; one
 * wsg_report_<format>.c per renderer. */
#ifndef WSG_REPORT_INT_H
#define WSG_REPORT_INT_H

#include <apr_hash.h>
#include <jansson.h>

#include "wsg_report.h"
#include "wsg_event.h"
#include "wsg_ip.h"
#include "wsg_util.h"

/* Bound the memory one hostile client can make us use: distinct values kept per set. */
#define SET_MAX 2000
/* STIX sighting count is limited to this by the spec. */
#define STIX_COUNT_MAX 999999999u
#define DEFAULT_ORG "mod_wsguard reporter"
#define REDACTED_HOST "redacted.invalid"
#define REDACTED_IP "REDACTED-IP"

/* Campaigns: the same probe list arriving from many prefixes. Two clients in different /24 (IPv4)
 * or /64 (IPv6) prefixes are linked when each probed at least CAMP_MIN_PATHS distinct normalised
 * paths and the Jaccard similarity of their path sets is at least CAMP_MIN_JACCARD; a campaign is
 * a connected group of linked clients (so it always spans two prefixes or more). Five paths keep a
 * couple of common probes (/wp-login.php, /.env) from joining unrelated scanners; one half is a
 * shared wordlist even when each side adds its own noise. Pairs are only compared through a
 * path -> clients index, and CAMP_WORK_MAX bounds the steps a hostile log can make us take; past
 * it the grouping is reported as incomplete. */
#define CAMP_MIN_PATHS 5
#define CAMP_MIN_JACCARD 0.5
#define CAMP_WORK_MAX 200000000ull
#define CAMP_SAMPLE 10

/* ATT&CK techniques every report refers to. */
typedef struct {
    const char *id, *name, *parent, *phase, *url, *misp;
} wsg_rpt_tech_t;
#define N_TECH 2
extern const wsg_rpt_tech_t wsg_rpt_techniques[N_TECH];

/* The TLP 1.0 marking definitions as published in the STIX 2.1 specification (section 7.2.1.4). */
typedef struct {
    const char *level, *id, *misp_distribution;
} wsg_rpt_tlp_t;
#define N_TLP 4
extern const wsg_rpt_tlp_t wsg_rpt_tlps[N_TLP];

/* A set of strings with a count per member, capped at SET_MAX members. */
typedef struct {
    apr_hash_t *h;          /* const char * -> unsigned * */
    unsigned    overflow;   /* values not kept because the set was full */
} strset_t;

typedef struct campaign_t campaign_t;

typedef struct {
    const char *addr;        /* canonical text (wsg_addr_format) */
    wsg_addr_t  a;
    apr_time_t  first, last, ban_until;
    unsigned    count;
    double      max_score;
    int         shell_hit;   /* a probe got a 2xx: the shell may be there */
    strset_t    paths, uris, tags, uas, statuses, rules, shell_paths, vhosts, events;
    campaign_t *camp;        /* set per rendering by campaigns_find; NULL: in none */
} client_t;

/* One campaign of a rendering: members in report order, paths shared by two members or more. */
struct campaign_t {
    const char *id;          /* "c1", "c2", ... by size within the report */
    const char *stix_id;
    client_t  **members;
    unsigned    n, prefixes, nshared;
    apr_time_t  first, last;
    const char **shared;     /* up to CAMP_SAMPLE, most members first (raw, not anonymised) */
};

typedef struct {
    campaign_t *v;
    unsigned    n;
    int         complete;    /* 0: CAMP_WORK_MAX was reached, some pairs were not compared */
} campaigns_t;

struct wsg_report_t {
    apr_pool_t       *p;
    wsg_report_opts_t o;
    apr_hash_t       *clients;    /* addr -> client_t * */
    apr_hash_t       *own_hosts;  /* lower-case vhost -> "" */
    unsigned          lines, bad;
};

typedef struct {
    const char *v;
    unsigned    n;
} entry_t;

/* A growing text buffer. */
typedef struct {
    apr_pool_t *p;
    char       *b;
    apr_size_t  len, cap;
} sbuf_t;

/* -- helpers (wsg_report.c) -- */
void wsg_rpt_set_add(apr_pool_t *p, strset_t *s, const char *v);
unsigned wsg_rpt_set_count(const strset_t *s);
/* Members by count, most frequent first (ties by value, so output is stable). */
entry_t *wsg_rpt_set_sorted(apr_pool_t *p, const strset_t *s, unsigned *n);
const char *wsg_rpt_tstr(apr_pool_t *p, apr_time_t t);
const char *wsg_rpt_num_str(apr_pool_t *p, json_int_t v);
json_t *wsg_rpt_jtime(apr_pool_t *p, apr_time_t t);
const char *wsg_rpt_uuid4(apr_pool_t *p);
const char *wsg_rpt_stix_id(apr_pool_t *p, const char *type);
void wsg_rpt_sb_add(sbuf_t *s, const char *t, apr_size_t n);
void wsg_rpt_sb_str(sbuf_t *s, const char *t);
const char *wsg_rpt_jstr(json_t *o, const char *k);
size_t wsg_rpt_tlp_index(const char *level);
/* The clients to report, most important first; private ones are left out when anonymising. */
client_t **wsg_rpt_clients_sorted(wsg_report_t *r, apr_pool_t *p, unsigned *n);
/* A set as a JSON array of (anonymised) strings, at most max, de-duplicated again. */
json_t *wsg_rpt_set_json(wsg_report_t *r, apr_pool_t *p, const strset_t *s, int is_target,
                         unsigned max);
/* Dumps (and frees) o as indented JSON text ending in a newline. */
char *wsg_rpt_dump(apr_pool_t *p, json_t *o);
/* Joins (and frees) a JSON array of strings (or integers) with sep. */
const char *wsg_rpt_join(apr_pool_t *p, json_t *a, const char *sep, unsigned max);

/* -- anonymisation (wsg_report_anon.c) -- */
/* What a string looks like in the output: anonymised if asked. */
const char *wsg_rpt_outs(wsg_report_t *r, apr_pool_t *p, const char *s, int is_target);

/* -- campaigns (wsg_report_campaign.c) -- */
campaigns_t wsg_rpt_campaigns_find(wsg_report_t *r, apr_pool_t *p, client_t **c, unsigned n);
json_t *wsg_rpt_camp_sample(wsg_report_t *r, apr_pool_t *p, const campaign_t *cp, unsigned max);
const char *wsg_rpt_camp_summary(apr_pool_t *p, const campaign_t *cp);

/* -- renderers (one file each), listed in the format table of wsg_report.c -- */
char *wsg_rpt_render_csv(wsg_report_t *r, apr_pool_t *p);
char *wsg_rpt_render_json(wsg_report_t *r, apr_pool_t *p);
char *wsg_rpt_render_stix(wsg_report_t *r, apr_pool_t *p);
char *wsg_rpt_render_misp(wsg_report_t *r, apr_pool_t *p);
/* Formats that write a directory instead of a text. */
apr_status_t wsg_rpt_write_misp_feed(wsg_report_t *r, const char *dir, apr_pool_t *p,
                                     const char **err);

#endif
