/* lapi_driver: drives the core CrowdSec client and sync (wsg_lapi, wsg_outbox, wsg_sync) against a
 * live LAPI, for tests/integration/test_lapi.py and tests/bench/bench-lapi.sh. Not installed.
 *
 * Environment: WSG_LAPI_URL, WSG_LAPI_MACHINE + WSG_LAPI_PASSWORD (push), WSG_LAPI_BOUNCER_KEY
 * (pull), WSG_LAPI_TIMEOUT_MS (whole request, default 10000), WSG_LAPI_CA_FILE,
 * WSG_LAPI_CERT_FILE + WSG_LAPI_KEY_FILE (TLS).
 * Every command prints one JSON object on stdout; on failure {"error":..., "status":...} and
 * exit status 1.
 *
 *   login
 *   stale-push VALUE                               push with a token the LAPI refuses (401):
 *                                                  the client must log in again and succeed
 *   push VALUE SECONDS TAG PROBES [PATH...]       one ban, straight through the client
 *   pushn N SECONDS [BATCH]                        N bans 10.a.b.c in batches (bench)
 *   pull [startup]                                 the stream, parsed
 *   delete VALUE
 *   enqueue STATEDIR VALUE SECONDS TAG PROBES [PATHS]   a local ban into the outbox
 *   enqueuen STATEDIR N SECONDS                    N of them (bench)
 *   unban STATEDIR VALUE                           an unban into the outbox
 *   localban STATEDIR VALUE SECONDS                a scored local ban in the store
 *   sync STATEDIR [ALLOW_CIDR]                     one sync step (WSG_SYNC_STEPS=N steps,
 *                                                  WSG_SYNC_PAUSE_MS apart: a server's loop)
 *   show STATEDIR VALUE                            the store record
 *   state STATEDIR                                 the persisted sync state */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <jansson.h>

#include "wsg_lapi.h"
#include "wsg_outbox.h"
#include "wsg_store.h"
#include "wsg_sync.h"

static apr_pool_t *P;

static int out(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    puts(s ? s : "{}");
    free(s);
    json_decref(j);
    return 0;
}

static int die(apr_status_t rv, const char *msg)
{
    char buf[120];
    json_t *j = json_pack("{s:s, s:i, s:s}", "error", msg ? msg : "?", "status", (int)rv,
                          "status_text", apr_strerror(rv, buf, sizeof(buf)));
    fprintf(stderr, "lapi_driver: %s\n", msg ? msg : "?");
    out(j);
    return 1;
}

static const char *env(const char *n)
{
    const char *v = getenv(n);
    return v && *v ? v : NULL;
}

static wsg_lapi_t *client(int need_push, int need_pull)
{
    wsg_lapi_opts_t o;
    wsg_lapi_t *cl;
    const char *err = NULL;
    apr_status_t rv;
    memset(&o, 0, sizeof(o));
    o.url = env("WSG_LAPI_URL");
    o.machine = env("WSG_LAPI_MACHINE");
    o.password = o.machine ? env("WSG_LAPI_PASSWORD") : NULL;
    o.bouncer_key = env("WSG_LAPI_BOUNCER_KEY");
    o.ca_file = env("WSG_LAPI_CA_FILE");
    o.cert_file = env("WSG_LAPI_CERT_FILE");
    o.key_file = env("WSG_LAPI_KEY_FILE");
    o.connect_timeout = apr_time_from_msec(2000);
    o.timeout = apr_time_from_msec(env("WSG_LAPI_TIMEOUT_MS") ? atoi(env("WSG_LAPI_TIMEOUT_MS"))
                                                                : 10000);
    if ((need_push && !o.machine) || (need_pull && !o.bouncer_key)) {
        die(APR_EINVAL, "WSG_LAPI_MACHINE/WSG_LAPI_PASSWORD or WSG_LAPI_BOUNCER_KEY missing");
        exit(1);
    }
    if ((rv = wsg_lapi_create(P, &o, &cl, &err)) != APR_SUCCESS) {
        die(rv, err);
        exit(1);
    }
    return cl;
}

static double ms_since(apr_time_t t0)
{
    return (double)(apr_time_now() - t0) / 1000.0;
}

static wsg_store_t *store(const char *dir)
{
    wsg_store_t *st;
    const char *err = NULL;
    apr_status_t rv;
    if ((rv = wsg_store_prepare(P, dir, NULL, -1, -1, &err)) != APR_SUCCESS
        || (rv = wsg_store_open(P, dir, NULL, &st, &err)) != APR_SUCCESS) {
        die(rv, err);
        exit(1);
    }
    return st;
}

static wsg_outbox_t *outbox(const char *dir)
{
    wsg_outbox_t *ob;
    const char *err = NULL;
    apr_status_t rv;
    apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, P);
    if ((rv = wsg_outbox_open(P, apr_pstrcat(P, dir, "/" WSG_OUTBOX_FILE, NULL), 0, &ob, &err))
        != APR_SUCCESS) {
        die(rv, err);
        exit(1);
    }
    return ob;
}

static wsg_addr_t addr(const char *s)
{
    wsg_addr_t a;
    if (wsg_addr_parse(s, &a) != APR_SUCCESS) {
        die(APR_EINVAL, apr_psprintf(P, "not an address or CIDR: %s", s));
        exit(1);
    }
    return a;
}

static json_t *decisions(const apr_array_header_t *a)
{
    json_t *arr = json_array();
    for (int i = 0; i < a->nelts; i++) {
        const wsg_lapi_decision_t *d = &APR_ARRAY_IDX(a, i, wsg_lapi_decision_t);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:I}",
            "value", d->value, "scope", d->scope, "type", d->type, "origin", d->origin,
            "scenario", d->scenario, "duration_s", (double)d->duration / 1e6,
            "id", (json_int_t)d->id));
    }
    return arr;
}

static int cmd_push(int argc, char **argv)
{
    wsg_lapi_t *cl = client(1, 0);
    wsg_lapi_ban_t b;
    wsg_lapi_push_result_t res;
    const char *err = NULL, *paths = NULL;
    apr_status_t rv;
    int i;
    if (argc < 6)
        return die(APR_EINVAL, "push VALUE SECONDS TAG PROBES [PATH...]");
    memset(&b, 0, sizeof(b));
    b.value = argv[2];
    b.is_range = strchr(argv[2], '/') != NULL;
    b.duration = apr_time_from_sec(atoi(argv[3]));
    b.scenario = apr_pstrcat(P, WSG_LAPI_SCENARIO_PFX, argv[4], NULL);
    b.probes = (unsigned)atoi(argv[5]);
    for (i = 6; i < argc; i++)
        paths = paths ? apr_pstrcat(P, paths, "\n", argv[i], NULL) : argv[i];
    b.paths = paths;
    if ((rv = wsg_lapi_push(cl, P, &b, 1, apr_time_now(), &res, &err)) != APR_SUCCESS)
        return die(rv, err);
    return out(json_pack("{s:b}", "ok", 1));
}

static int cmd_stale_push(int argc, char **argv)
{
    wsg_lapi_t *cl = client(1, 0);
    wsg_lapi_ban_t b;
    wsg_lapi_push_result_t res;
    const char *err = NULL;
    apr_status_t rv;
    if (argc < 3)
        return die(APR_EINVAL, "stale-push VALUE");
    /* a well-formed JWT signed with another secret (a LAPI restarted without CS_LAPI_SECRET) */
    wsg_lapi_token_set(cl, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6Im5vYm9keSJ9."
                           "c2lnbmVkLXdpdGgtYW5vdGhlci1zZWNyZXQ",
                       apr_time_now() + apr_time_from_sec(3000));
    memset(&b, 0, sizeof(b));
    b.value = argv[2];
    b.duration = apr_time_from_sec(600);
    b.scenario = WSG_LAPI_SCENARIO_PFX "stale-token";
    if ((rv = wsg_lapi_push(cl, P, &b, 1, apr_time_now(), &res, &err)) != APR_SUCCESS)
        return die(rv, err);
    return out(json_pack("{s:b}", "ok", 1));
}

static int cmd_pushn(int argc, char **argv)
{
    wsg_lapi_t *cl = client(1, 0);
    int n = argc > 2 ? atoi(argv[2]) : 10000, secs = argc > 3 ? atoi(argv[3]) : 3600;
    int batch = argc > 4 ? atoi(argv[4]) : 500, i, posts = 0;
    wsg_lapi_ban_t *b = apr_pcalloc(P, sizeof(*b) * (n ? n : 1));
    wsg_lapi_push_result_t res;
    const char *err = NULL;
    apr_time_t t0;
    apr_status_t rv;
    for (i = 0; i < n; i++) {
        b[i].value = apr_psprintf(P, "10.%d.%d.%d", 100 + (i >> 16), (i >> 8) & 255, i & 255);
        b[i].duration = apr_time_from_sec(secs);
        b[i].scenario = WSG_LAPI_SCENARIO_PFX "bench";
        b[i].probes = 3;
        b[i].paths = "/shell.php\n/wso.php";
    }
    if ((rv = wsg_lapi_login(cl, P, apr_time_now(), &err)) != APR_SUCCESS)
        return die(rv, err);
    t0 = apr_time_now();
    for (i = 0; i < n; i += batch, posts++) {
        int k = n - i < batch ? n - i : batch;
        if ((rv = wsg_lapi_push(cl, P, &b[i], k, apr_time_now(), &res, &err)) != APR_SUCCESS)
            return die(rv, err);
    }
    return out(json_pack("{s:i, s:i, s:f}", "pushed", n, "posts", posts, "ms", ms_since(t0)));
}

static int cmd_pull(int argc, char **argv)
{
    wsg_lapi_t *cl = client(0, 1);
    wsg_lapi_stream_t s;
    const char *err = NULL;
    apr_time_t t0 = apr_time_now();
    apr_status_t rv = wsg_lapi_pull(cl, P, argc > 2 && !strcmp(argv[2], "startup"), &s, &err);
    double ms = ms_since(t0);
    if (rv != APR_SUCCESS)
        return die(rv, err);
    if (env("WSG_LAPI_COUNT_ONLY"))
        return out(json_pack("{s:i, s:i, s:f}", "new", s.added->nelts, "deleted",
                             s.deleted->nelts, "ms", ms));
    return out(json_pack("{s:o, s:o, s:i, s:f}", "new", decisions(s.added), "deleted",
                         decisions(s.deleted), "skipped", s.skipped, "ms", ms));
}

static int cmd_delete(int argc, char **argv)
{
    wsg_lapi_t *cl = client(1, 0);
    const char *err = NULL;
    int n = 0;
    apr_status_t rv;
    if (argc < 3)
        return die(APR_EINVAL, "delete VALUE");
    rv = wsg_lapi_delete(cl, P, argv[2], strchr(argv[2], '/') != NULL, apr_time_now(), &n, &err);
    if (rv != APR_SUCCESS)
        return die(rv, err);
    return out(json_pack("{s:i}", "deleted", n));
}

static int cmd_enqueue(int argc, char **argv)
{
    wsg_outbox_t *ob;
    wsg_outbox_item_t it;
    wsg_addr_t a;
    apr_time_t now = apr_time_now();
    apr_status_t rv;
    if (argc < 7)
        return die(APR_EINVAL, "enqueue STATEDIR VALUE SECONDS TAG PROBES [PATHS]");
    ob = outbox(argv[2]);
    a = addr(argv[3]);
    wsg_outbox_ban_item(&it, &a, now, now + apr_time_from_sec(atoll(argv[4])),
                        (unsigned)atoi(argv[6]), argv[5], argc > 7 ? argv[7] : NULL);
    if ((rv = wsg_outbox_put(ob, &it)) != APR_SUCCESS)
        return die(rv, wsg_outbox_strerror(rv));
    return out(json_pack("{s:b}", "ok", 1));
}

static int cmd_enqueuen(int argc, char **argv)
{
    wsg_outbox_t *ob;
    int n, secs, i;
    apr_time_t now = apr_time_now(), t0;
    apr_status_t rv;
    if (argc < 5)
        return die(APR_EINVAL, "enqueuen STATEDIR N SECONDS");
    ob = outbox(argv[2]);
    n = atoi(argv[3]);
    secs = atoi(argv[4]);
    t0 = apr_time_now();
    for (i = 0; i < n; i++) {
        wsg_outbox_item_t it;
        wsg_addr_t a = addr(apr_psprintf(P, "10.%d.%d.%d", 150 + (i >> 16), (i >> 8) & 255,
                                         i & 255));
        wsg_outbox_ban_item(&it, &a, now, now + apr_time_from_sec(secs), 4, "bench-sync",
                            "/shell.php\n/c99.php");
        if ((rv = wsg_outbox_put(ob, &it)) != APR_SUCCESS)
            return die(rv, wsg_outbox_strerror(rv));
    }
    return out(json_pack("{s:i, s:f}", "enqueued", n, "ms", ms_since(t0)));
}

static int cmd_unban(int argc, char **argv)
{
    wsg_outbox_t *ob;
    wsg_outbox_item_t it;
    wsg_addr_t a;
    apr_status_t rv;
    if (argc < 4)
        return die(APR_EINVAL, "unban STATEDIR VALUE");
    ob = outbox(argv[2]);
    a = addr(argv[3]);
    wsg_outbox_unban_item(&it, &a, apr_time_now());
    if ((rv = wsg_outbox_put(ob, &it)) != APR_SUCCESS)
        return die(rv, wsg_outbox_strerror(rv));
    return out(json_pack("{s:b}", "ok", 1));
}

typedef struct lb_t {
    apr_time_t now, until;
} lb_t;

static int localban_fn(void *baton, wsg_rec_t *recs, const int *found, int n)
{
    lb_t *b = baton;
    (void)n;
    if (!found[0]) {
        recs[0].first_seen = b->now;
        recs[0].score_time = b->now;
    }
    recs[0].hits++;
    recs[0].last_seen = b->now;
    recs[0].ban_count++;
    recs[0].ban_until = b->until;
    return 1;
}

static int cmd_localban(int argc, char **argv)
{
    wsg_store_t *st;
    wsg_addr_t a;
    lb_t b;
    apr_status_t rv;
    if (argc < 5)
        return die(APR_EINVAL, "localban STATEDIR VALUE SECONDS");
    st = store(argv[2]);
    a = addr(argv[3]);
    b.now = apr_time_now();
    b.until = b.now + apr_time_from_sec(atoi(argv[4]));
    if ((rv = wsg_store_update(st, &a, 1, localban_fn, &b)) != APR_SUCCESS)
        return die(rv, wsg_store_strerror(rv));
    return out(json_pack("{s:b}", "ok", 1));
}

static const char *status_name(apr_status_t rv)
{
    return rv == APR_SUCCESS ? "ok" : rv == APR_ECONNREFUSED ? "unreachable"
         : rv == APR_EACCES ? "refused" : rv == APR_EINVAL ? "invalid" : "error";
}

static int cmd_sync(int argc, char **argv)
{
    wsg_lapi_t *cl;
    wsg_store_t *st;
    wsg_outbox_t *ob;
    wsg_sync_t *s;
    wsg_sync_opts_t o;
    wsg_sync_report_t r;
    const char *err = NULL;
    apr_time_t t0;
    apr_status_t rv;
    int steps = env("WSG_SYNC_STEPS") ? atoi(env("WSG_SYNC_STEPS")) : 1, i;
    double total = 0;
    json_t *reports = json_array();

    if (argc < 3)
        return die(APR_EINVAL, "sync STATEDIR [ALLOW_CIDR]");
    cl = client(0, 0);
    st = store(argv[2]);
    ob = outbox(argv[2]);
    memset(&o, 0, sizeof(o));
    if (argc > 3) {
        wsg_allow_t *al = wsg_allow_make(P);
        if (wsg_allow_add(al, P, argv[3], &err) != APR_SUCCESS)
            return die(APR_EINVAL, err);
        o.allow = al;
    }
    if ((rv = wsg_sync_create(P, st, ob, cl, &o, &s)) != APR_SUCCESS)
        return die(rv, "wsg_sync_create");
    /* several steps in one process (WSG_SYNC_STEPS): the first pull is startup=true, later ones
     * are deltas, as in the server; a step that only waits for its backoff is not counted */
    for (i = 0; i < steps; i++) {
        t0 = apr_time_now();
        if ((rv = wsg_sync_step(s, P, apr_time_now(), &r)) != APR_SUCCESS)
            return die(rv, "sync step: store or outbox failed");
        total += ms_since(t0);
        json_array_append_new(reports, json_pack(
            "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:s, s:s, s:s?, s:s?, s:s?, s:b, s:b,"
            " s:I, s:f, s:f, s:f}",
            "pushed", r.pushed, "dropped", r.dropped, "unbanned", r.unbanned, "expired",
            r.expired, "added", r.added, "lifted", r.lifted, "unchanged", r.unchanged,
            "ignored", r.ignored, "startup", r.startup,
            "push", r.push_tried ? status_name(r.push_rv) : "skipped",
            "pull", r.pull_tried ? status_name(r.pull_rv) : "skipped",
            "push_err", r.push_err, "pull_err", r.pull_err, "drop_msg", r.drop_msg,
            "push_changed", r.push_changed, "pull_changed", r.pull_changed,
            "backlog", (json_int_t)r.backlog, "push_ms", (double)r.push_time / 1000.0,
            "pull_ms", (double)r.pull_time / 1000.0, "apply_ms", (double)r.apply_time / 1000.0));
        if (i + 1 < steps && env("WSG_SYNC_UNTIL_EMPTY") && r.backlog == 0)
            break;
        if (i + 1 < steps && env("WSG_SYNC_PAUSE_MS"))
            apr_sleep(apr_time_from_msec(atoi(env("WSG_SYNC_PAUSE_MS"))));
    }
    {
        json_t *last = json_deep_copy(json_array_get(reports, json_array_size(reports) - 1));
        json_object_set_new(last, "steps", reports);
        json_object_set_new(last, "ms", json_real(total));
        return out(last);
    }
}

static json_t *flags_of(apr_uint32_t f)
{
    json_t *a = json_array();
    if (f & WSG_RF_SHELL_HIT)
        json_array_append_new(a, json_string("SHELL-HIT"));
    if (f & WSG_RF_MANUAL)
        json_array_append_new(a, json_string("MANUAL"));
    if (f & WSG_RF_IMPORTED)
        json_array_append_new(a, json_string("IMPORTED"));
    if (f & WSG_RF_CROWDSEC)
        json_array_append_new(a, json_string("CROWDSEC"));
    return a;
}

static int cmd_show(int argc, char **argv)
{
    wsg_store_t *st;
    wsg_addr_t a;
    wsg_rec_t r;
    apr_time_t now = apr_time_now();
    apr_status_t rv;
    if (argc < 4)
        return die(APR_EINVAL, "show STATEDIR VALUE");
    st = store(argv[2]);
    a = addr(argv[3]);
    rv = wsg_store_get(st, &a, &r);
    if (rv == APR_NOTFOUND)
        return out(json_pack("{s:b}", "found", 0));
    if (rv != APR_SUCCESS)
        return die(rv, wsg_store_strerror(rv));
    return out(json_pack("{s:b, s:b, s:f, s:o, s:s, s:i}", "found", 1, "banned", r.ban_until > now,
                         "ban_remaining_s", r.ban_until > now ? (double)(r.ban_until - now) / 1e6 : 0.0,
                         "flags", flags_of(r.flags), "source", r.source, "hits", (int)r.hits));
}

static int cmd_state(int argc, char **argv)
{
    wsg_outbox_t *ob;
    wsg_sync_state_t s;
    apr_size_t n = 0;
    apr_status_t rv;
    if (argc < 3)
        return die(APR_EINVAL, "state STATEDIR");
    ob = outbox(argv[2]);
    if ((rv = wsg_sync_state_read(ob, &s)) != APR_SUCCESS || (rv = wsg_outbox_count(ob, &n)))
        return die(rv, wsg_outbox_strerror(rv));
    return out(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:s, s:s, s:b, s:b}",
                         "backlog", (json_int_t)n, "pushed", (json_int_t)s.pushed,
                         "dropped", (json_int_t)s.dropped, "deleted", (json_int_t)s.deleted,
                         "pulled_new", (json_int_t)s.pulled_new,
                         "pulled_deleted", (json_int_t)s.pulled_deleted,
                         "push_failures", (int)s.push_failures, "pull_failures",
                         (int)s.pull_failures, "push_err", s.push_err, "pull_err", s.pull_err,
                         "pushed_ever", s.last_push != 0, "pulled_ever", s.last_pull != 0));
}

static int cmd_login(void)
{
    wsg_lapi_t *cl = client(1, 0);
    const char *err = NULL;
    apr_time_t t0 = apr_time_now();
    apr_status_t rv = wsg_lapi_login(cl, P, t0, &err);
    if (rv != APR_SUCCESS)
        return die(rv, err);
    return out(json_pack("{s:b, s:f}", "ok", 1, "ms", ms_since(t0)));
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&P, NULL);
    if (!strcmp(c, "login"))
        return cmd_login();
    if (!strcmp(c, "push"))
        return cmd_push(argc, argv);
    if (!strcmp(c, "stale-push"))
        return cmd_stale_push(argc, argv);
    if (!strcmp(c, "pushn"))
        return cmd_pushn(argc, argv);
    if (!strcmp(c, "pull"))
        return cmd_pull(argc, argv);
    if (!strcmp(c, "delete"))
        return cmd_delete(argc, argv);
    if (!strcmp(c, "enqueue"))
        return cmd_enqueue(argc, argv);
    if (!strcmp(c, "enqueuen"))
        return cmd_enqueuen(argc, argv);
    if (!strcmp(c, "unban"))
        return cmd_unban(argc, argv);
    if (!strcmp(c, "localban"))
        return cmd_localban(argc, argv);
    if (!strcmp(c, "sync"))
        return cmd_sync(argc, argv);
    if (!strcmp(c, "show"))
        return cmd_show(argc, argv);
    if (!strcmp(c, "state"))
        return cmd_state(argc, argv);
    fprintf(stderr, "usage: lapi_driver login|push|pushn|pull|delete|enqueue|enqueuen|unban|"
                    "localban|sync|show|state ... (see the source)\n");
    return 2;
}
