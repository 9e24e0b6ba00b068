/* wsg_cli: shared state and the verb entry points of wsguardctl. One file per group of verbs. */
#ifndef WSG_CLI_H
#define WSG_CLI_H

#include <stdio.h>
#include <apr_pools.h>
#include "wsg_store.h"
#include "wsg_policy.h"

#define WSG_DEFAULT_STATE_DIR "/var/lib/apache2/wsguard"

typedef struct wsg_cli_t {
    apr_pool_t      *pool;
    const char      *state_dir;    /* -d DIR, or $WSGUARD_STATE_DIR, or the default */
    wsg_store_opts_t store_opts;
    wsg_policy_t     policy;       /* defaults; verbs that need a policy may take options */
    FILE            *out;
    FILE            *err;
    int              keep_root;    /* the verb needs root after opening the store (export -o):
                                    * switch to the state's owner only while opening it */
} wsg_cli_t;

/* Every verb: argv[0] is the verb; returns the process exit status (0 ok, 1 failure, 2 usage). */
typedef int (*wsg_cli_verb_fn)(wsg_cli_t *cli, int argc, const char *const *argv);

/* Opens the store of cli->state_dir (read-only unless writable), printing an error on failure.
 * Refuses a state directory failing wsg_store_dir_check (symlinks, foreign owners, writable by
 * group or others) and, when run as root, opens it as the directory's owner: for good (setgid,
 * setuid) unless cli->keep_root, then with the effective ids only, restored after the open. */
wsg_store_t *wsg_cli_store(wsg_cli_t *cli, int writable);

/* Parses a duration "90", "90s", "15m", "2h", "7d" into *out; APR_EINVAL if malformed. */
apr_status_t wsg_cli_parse_duration(const char *text, apr_interval_time_t *out);

/* Verbs */
int wsg_cli_rules(wsg_cli_t *cli, int argc, const char *const *argv);   /* wsg_cli_rules.c */
int wsg_cli_list(wsg_cli_t *cli, int argc, const char *const *argv);    /* wsg_cli_admin.c */
int wsg_cli_show(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_ban(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_unban(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_stats(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_top(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_purge(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_export(wsg_cli_t *cli, int argc, const char *const *argv);  /* wsg_cli_export.c */
int wsg_cli_import(wsg_cli_t *cli, int argc, const char *const *argv);
int wsg_cli_report(wsg_cli_t *cli, int argc, const char *const *argv);  /* wsg_cli_report.c */

#endif
