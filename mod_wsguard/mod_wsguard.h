/* mod_wsguard.h: what the glue files share (main glue and status handler). */
#ifndef MOD_WSGUARD_H
#define MOD_WSGUARD_H

#include "httpd.h"
#include "http_config.h"
#include "wsg_store.h"
#include "wsg_policy.h"
#include "wsg_rules.h"

extern module AP_MODULE_DECLARE_DATA wsguard_module;

/* The state the status handler reads: this child's store, the policy and rules in force. */
wsg_store_t *wsg_glue_store(void);
const wsg_policy_t *wsg_glue_policy(void);
const wsg_ruleset_t *wsg_glue_rules(void);

void wsg_status_register_hooks(apr_pool_t *p);

#endif
