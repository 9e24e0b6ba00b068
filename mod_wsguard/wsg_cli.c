/* wsg_cli: wsguardctl's main: global options and verb dispatch. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "wsg_cli.h"
#include "wsg_util.h"

typedef struct {
    const char     *name;
    wsg_cli_verb_fn fn;
    const char     *synopsis;
} wsg_cli_verb_t;

/* The top-level help lists every verb with every option (tests/integration/test_install.py checks
 * it against each verb's own --help). */
static const wsg_cli_verb_t verbs[] = {
    { "list",   wsg_cli_list,   "list [--banned] [--json] [--halflife DUR]\n"
                                "      tracked addresses and prefixes: score now, hits, ban remaining, flags" },
    { "show",   wsg_cli_show,   "show IP|PREFIX [--json] [--halflife DUR]\n"
                                "      one record in full" },
    { "ban",    wsg_cli_ban,    "ban IP|CIDR [--for DUR] [--reason TEXT]\n"
                                "      ban now on every worker (default: the server's ban time); any CIDR" },
    { "unban",  wsg_cli_unban,  "unban IP|CIDR\n"
                                "      lift a ban and clear the score" },
    { "stats",  wsg_cli_stats,  "stats [--json] [--halflife DUR]\n"
                                "      counts of records, bans, prefixes, shell alerts" },
    { "top",    wsg_cli_top,    "top [-n N] [--banned] [--json] [--halflife DUR]\n"
                                "      the highest-scoring addresses" },
    { "purge",  wsg_cli_purge,  "purge [--halflife DUR]\n"
                                "      delete expired records now" },
    { "export", wsg_cli_export, "export --format nft|ipset|iptables|ip6tables|pf|plain|json [--aggregate]\n"
                                "       [--family 4|6] [--name NAME] [--hook input|forward] [--set-only]\n"
                                "       [-o FILE] [--halflife DUR]\n"
                                "      the bans in force, for a firewall" },
    { "import", wsg_cli_import, "import FILE|- [--source NAME] [--for DUR] [--max DUR] [--allow-private]\n"
                                "       [--max-entries N] [--dry-run]\n"
                                "      ban locally what a peer shares (json, STIX 2.1, MISP, CSV, plain)" },
    { "report", wsg_cli_report, "report [--log] FILE... [--format csv|json|stix|misp|misp-feed] [--since T]\n"
                                "       [--until T] [--anonymise] [--hostname NAME]... [--tlp LEVEL]\n"
                                "       [--org NAME] [--identity ID] [--validity DUR] [--output FILE|DIR]\n"
                                "      a sharing report from the event log (rotated and .gz too)" },
    { "rules",  wsg_cli_rules,  "rules check FILE...\n"
                                "  rules test [--rules PATH|DIR|GLOB] [--ua UA] [--body BODY] (--file FILE | \"METHOD PATH\")\n"
                                "      check rule files; what requests would match" },
};

static void usage(FILE *f)
{
    size_t i;
    fprintf(f, "usage: wsguardctl [-d STATEDIR] VERB [ARGS]\n"
               "       wsguardctl --help | --version\n\n"
               "  -d STATEDIR   the WSGuardStateDir of the server (default: $WSGUARD_STATE_DIR or "
               WSG_DEFAULT_STATE_DIR ")\n"
               "  -h, --help    this help\n"
               "  --version     the version and the configured default paths\n\nverbs:\n");
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        fprintf(f, "  %s\n", verbs[i].synopsis);
    fprintf(f, "\nDurations: 90, 90s, 15m, 2h, 7d. 'wsguardctl VERB --help' describes a verb; "
               "man wsguardctl(8).\n");
}

static void version(void)
{
    printf("wsguardctl (mod_wsguard) " WSG_VERSION "\n"
           "rules: " WSG_RULES_DIR "\nlocal rules: " WSG_LOCAL_RULES_DIR "\n"
           "state: " WSG_STATE_DIR "\n");
}

/* Switches to the state directory's owner (root running wsguardctl on the server's state): LMDB
 * opens data.mdb and lock.mdb by name, in a directory that user can change at any moment, so
 * whatever it follows there it follows with that user's rights only. 0, or an errno value. */
static int become_owner(uid_t uid, gid_t gid, int for_good)
{
    if (setgroups(1, &gid) != 0)
        return errno;
    if (for_good) {
        if (setgid(gid) != 0 || setuid(uid) != 0)
            return errno;
        if (setuid(0) == 0)
            return EPERM;
    }
    else if (setegid(gid) != 0 || seteuid(uid) != 0)
        return errno;
    return geteuid() == uid && getegid() == gid ? 0 : EPERM;
}

/* Why a user who is neither root nor the owner could not open the state: what to do about it. */
static const char *group_hint(wsg_cli_t *cli, int writable)
{
    uid_t me = geteuid();
    struct stat sb;
    char path[4096];
    long owner = stat(cli->state_dir, &sb) == 0 ? (long)sb.st_uid : -1;

    if (me == 0 || (long)me == owner)
        return "";
    if (writable)
        return apr_psprintf(cli->pool, "\n(this verb writes the state: run it as root or as the "
                            "state's owner)");
    snprintf(path, sizeof(path), "%s/data.mdb", cli->state_dir);
    if (access(path, R_OK) != 0)
        return apr_psprintf(cli->pool, "\n(uid %ld may not read %s: reading the state needs "
                            "root, its owner, or membership of the group the server names with "
                            "WSGuardStateGroup)", (long)me, path);
    return "";
}

wsg_store_t *wsg_cli_store(wsg_cli_t *cli, int writable)
{
    wsg_store_t *st = NULL;
    wsg_store_dir_t *d = NULL;
    const char *err = NULL;
    wsg_store_opts_t opts = cli->store_opts;
    apr_status_t rv;
    gid_t saved_groups[64];
    int nsaved = -1, e;
    gid_t saved_egid = getegid();
    uid_t owner;
    int drop_later = 0;

    opts.readonly = !writable;
    if (wsg_store_dir_check(cli->pool, cli->state_dir, &d, &err) != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl: refusing the state in %s: %s%s\n", cli->state_dir,
                err ? err : "unknown error", group_hint(cli, writable));
        return NULL;
    }
    owner = (uid_t)wsg_store_dir_uid(d);
    /* A writing verb opens the server's event log for its audit line as root, after the store
     * (whose policy names it) and before giving root up for good. The descriptor stays open
     * after the switch; the process is then not dumpable (the kernel's rule for a process
     * that changed its ids), so the owner cannot take it over with ptrace. */
    drop_later = writable && !cli->keep_root && geteuid() == 0 && owner != 0;
    if (geteuid() == 0 && owner != 0) {
        if ((cli->keep_root || drop_later) && (nsaved = getgroups(64, saved_groups)) < 0) {
            fprintf(cli->err, "wsguardctl: getgroups: %s\n", strerror(errno));
            return NULL;
        }
        if ((e = become_owner(owner, (gid_t)wsg_store_dir_gid(d),
                              !cli->keep_root && !drop_later)) != 0) {
            fprintf(cli->err, "wsguardctl: cannot switch to uid %ld gid %ld, the owner of %s, "
                    "to open the state: %s\n", wsg_store_dir_uid(d), wsg_store_dir_gid(d),
                    cli->state_dir, strerror(e));
            return NULL;
        }
    }
    rv = wsg_store_open_dir(cli->pool, d, &opts, &st, &err);
    if (nsaved >= 0 && (seteuid(0) != 0 || setegid(saved_egid) != 0
                        || setgroups((size_t)nsaved, saved_groups) != 0)) {
        fprintf(cli->err, "wsguardctl: cannot switch back to root: %s\n", strerror(errno));
        wsg_store_close(st);
        return NULL;
    }
    if (rv != APR_SUCCESS) {
        fprintf(cli->err, "wsguardctl: cannot open state in %s: %s%s\n", cli->state_dir,
                err ? err : "unknown error", group_hint(cli, writable));
        return NULL;
    }
    wsg_cli_policy_apply(cli, st);
    if (writable) {
        if (geteuid() == 0)
            wsg_cli_audit_open_log(cli);
        else
            cli->audit_why = "not run as root (the event log is root's)";
        if (drop_later && (e = become_owner(owner, (gid_t)wsg_store_dir_gid(d), 1)) != 0) {
            fprintf(cli->err, "wsguardctl: cannot switch to uid %ld gid %ld, the owner of %s: "
                    "%s\n", wsg_store_dir_uid(d), wsg_store_dir_gid(d), cli->state_dir,
                    strerror(e));
            wsg_store_close(st);
            return NULL;
        }
        wsg_cli_audit_open_state(cli);
    }
    return st;
}

apr_status_t wsg_cli_parse_duration(const char *text, apr_interval_time_t *out)
{
    return wsg_parse_duration(text, out);
}

int main(int argc, const char *const *argv)
{
    wsg_cli_t cli;
    int i = 1, rc;
    size_t v;
    const char *env = getenv("WSGUARD_STATE_DIR");

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    memset(&cli, 0, sizeof(cli));
    apr_pool_create(&cli.pool, NULL);
    cli.state_dir = env && *env ? env : WSG_DEFAULT_STATE_DIR;
    cli.out = stdout;
    cli.err = stderr;
    cli.audit_fd = -1;
    cli.caller_uid = (long)getuid();
    wsg_policy_defaults(&cli.policy);

    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-d") && i + 1 < argc) {
            cli.state_dir = argv[i + 1];
            i += 2;
        }
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        else if (!strcmp(argv[i], "--version")) {
            version();
            return 0;
        }
        else {
            fprintf(stderr, "wsguardctl: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
        if (!strcmp(argv[i], verbs[v].name)) {
            rc = verbs[v].fn(&cli, argc - i, argv + i);
            fflush(stdout);
            return rc;
        }
    }
    fprintf(stderr, "wsguardctl: unknown verb '%s'\n", argv[i]);
    usage(stderr);
    return 2;
}
