/* mod_wsguard_crawler.h: crawler verification in the httpd glue (mod_wsguard_crawler.c):
 * WSGuardCrawlerCheck On|Off, WSGuardResolver ADDR[:PORT], the claim on the request path and the
 * mod_watchdog task that checks the queued addresses by FCrDNS (wsg_crawler.h). */
#ifndef MOD_WSGUARD_CRAWLER_H
#define MOD_WSGUARD_CRAWLER_H

#include "httpd.h"
#include "http_config.h"
#include "wsg_ip.h"

/* The directives' handlers (server config only). */
const char *wsg_crawler_set_check(cmd_parms *cmd, void *dconf, int on);
const char *wsg_crawler_set_resolver(cmd_parms *cmd, void *dconf, const char *arg);

/* post_config (the queue file's path, the mod_watchdog task) and nothing per child. */
void wsg_crawler_register_hooks(apr_pool_t *p);

/* For a request about to write (it scores): the crawler its User-Agent claims (its id), 0 when
 * none or when the check is off. Looks at the User-Agent only here. */
int wsg_crawler_glue_claim(request_rec *r);

/* After a write that started a check (wsg_inspect_t.crawler_queue): queue addr for the task.
 * One append of a few bytes to a file in the state directory; bounded; never the network. */
void wsg_crawler_glue_queue(request_rec *r, const wsg_addr_t *addr, int crawler);

#endif
