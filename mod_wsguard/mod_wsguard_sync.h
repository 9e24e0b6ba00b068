/* mod_wsguard_sync.h: the CrowdSec directive and sync task of the httpd glue
 * (mod_wsguard_sync.c): WSGuardCrowdSec URL [machine=LOGIN password-file=FILE]
 * [bouncer-key-file=FILE] [interval=DURATION] [resync=DURATION] [ca-file=FILE] [cert-file=FILE]
 * [key-file=FILE]. */
#ifndef MOD_WSGUARD_SYNC_H
#define MOD_WSGUARD_SYNC_H

#include "httpd.h"
#include "http_config.h"
#include "wsg_ip.h"

typedef struct wsg_cs_conf_t {
    const char          *url;
    const char          *machine, *password;     /* push (both or neither) */
    const char          *bouncer_key;            /* pull */
    const char          *ca_file, *cert_file, *key_file;
    apr_interval_time_t  interval;
    apr_interval_time_t  resync;                 /* full pull every (resync=, default 1m) */
    const char          *where;                  /* FILE:LINE of the directive */
} wsg_cs_conf_t;

/* The WSGuardCrowdSec handler (server config only, once): every error names the directive, the
 * option and the file; credentials are read here, while httpd still runs as root. */
const char *wsg_cs_set(cmd_parms *cmd, void *dconf, int argc, char *const argv[]);

/* pre_config: forget the previous generation's setting. */
void wsg_cs_conf_reset(apr_pool_t *pconf);

/* This generation's setting, NULL when the directive is absent. */
const wsg_cs_conf_t *wsg_cs_conf(void);

/* post_config (the outbox file, the mod_watchdog singleton task) and child_init (this child's
 * outbox handle for the two calls below). */
void wsg_sync_register_hooks(apr_pool_t *p);

/* For the request path, when it bans (not in DetectionOnly) and when an unban is made: queue the
 * item for the sync task. No-op unless pushing is configured. Never blocks on the network; one
 * small LMDB write. A failure is logged once per child (AH19548) and the site goes on. */
void wsg_sync_queue_ban(server_rec *s, const wsg_addr_t *key, apr_time_t now,
                        apr_time_t ban_until, unsigned probes, const char *tag,
                        const char *paths);
void wsg_sync_queue_unban(server_rec *s, const wsg_addr_t *key, apr_time_t now);

#endif
