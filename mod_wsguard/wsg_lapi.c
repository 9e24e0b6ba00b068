/* wsg_lapi: CrowdSec Local API client. The first half builds and parses the JSON (pure, tested
 * by tests/unit/test_lapi.c), the second half is the libcurl transport (tested against a real
 * LAPI by tests/integration/test_lapi.py). See wsg_lapi.h for the error model. */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <apr_strings.h>
#include <jansson.h>
#include <curl/curl.h>

#include "wsg_lapi.h"
#include "wsg_event.h"

/* Caps that keep a hostile or broken answer from eating memory: the stream of 20,000 decisions
 * is about 3 MB, so this leaves a wide margin. */
#define LAPI_MAX_BODY     (256u << 20)
#define LAPI_MSG_MAX      4000     /* alert message */
#define LAPI_SHOW_MAX     300      /* LAPI message quoted in our errors */
#define LAPI_TOKEN_MARGIN apr_time_from_sec(60)

/* ---- Go durations ------------------------------------------------------------------------------ */

static int go_unit(const char **s, apr_int64_t *ns)
{
    static const struct { const char *name; apr_int64_t ns; } units[] = {
        { "ns", 1 }, { "us", 1000 }, { "\xC2\xB5s", 1000 }, { "\xCE\xBCs", 1000 },
        { "ms", 1000000 }, { "s", 1000000000 }, { "m", APR_INT64_C(60000000000) },
        { "h", APR_INT64_C(3600000000000) },
    };
    size_t i;
    /* "ms" is tried before "m", so "1ms" is a millisecond and "1m5s" a minute and 5 seconds */
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t l = strlen(units[i].name);
        if (!strncmp(*s, units[i].name, l)) {
            *s += l;
            *ns = units[i].ns;
            return 1;
        }
    }
    return 0;
}

apr_status_t wsg_go_duration_parse(const char *text, apr_interval_time_t *out)
{
    const char *s = text;
    int neg = 0;
    apr_int64_t total = 0;     /* nanoseconds */
    const apr_int64_t max = APR_INT64_MAX;

    if (!s || !*s)
        return APR_EINVAL;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (!strcmp(s, "0")) {
        *out = 0;
        return APR_SUCCESS;
    }
    if (!*s)
        return APR_EINVAL;
    while (*s) {
        apr_int64_t v = 0, unit, frac = 0, scale = 1;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (v > (max - 9) / 10)
                return APR_EINVAL;
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                if (scale < APR_INT64_C(1000000000000000)) {   /* extra digits do not matter */
                    frac = frac * 10 + (*s - '0');
                    scale *= 10;
                }
                s++;
                digits++;
            }
        }
        if (!digits || !go_unit(&s, &unit))
            return APR_EINVAL;
        if (v > max / unit)
            return APR_EINVAL;
        v *= unit;
        /* frac/scale of a unit, computed without overflow (unit <= 3.6e12, frac < scale) */
        v += (apr_int64_t)((double)frac * (double)unit / (double)scale);
        if (v > max - total)
            return APR_EINVAL;
        total += v;
    }
    total /= 1000;
    *out = neg ? -total : total;
    return APR_SUCCESS;
}

const char *wsg_go_duration_format(apr_pool_t *p, apr_interval_time_t d)
{
    apr_int64_t s = d > 0 ? d / APR_USEC_PER_SEC : 0;
    return apr_psprintf(p, "%" APR_INT64_T_FMT "s", s < 1 ? (apr_int64_t)1 : s);
}

/* ---- alerts ------------------------------------------------------------------------------------ */

static const char *clean(apr_pool_t *p, const char *s, apr_size_t max)
{
    return wsg_event_utf8_clean(p, s ? s : "", s ? strlen(s) : 0, max);
}

static const char *utc_str(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t x;
    if (apr_time_exp_gmt(&x, t) != APR_SUCCESS)
        memset(&x, 0, sizeof(x));
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", x.tm_year + 1900, x.tm_mon + 1,
                        x.tm_mday, x.tm_hour, x.tm_min, x.tm_sec);
}

static const char *scenario_of(apr_pool_t *p, const wsg_lapi_ban_t *b)
{
    return clean(p, b->scenario && *b->scenario ? b->scenario : WSG_LAPI_SCENARIO_PFX "probe", 128);
}

/* "203.0.113.7 (12 probes: /shell.php /c99.php)", "203.0.113.7 (/x.php)", "203.0.113.7" */
static const char *ban_summary(apr_pool_t *p, const wsg_lapi_ban_t *b)
{
    const char *s = clean(p, b->value, 64), *what = NULL;
    if (b->probes)
        what = apr_psprintf(p, "%u probe%s", b->probes, b->probes == 1 ? "" : "s");
    if (b->paths && *b->paths) {
        char *paths = apr_pstrdup(p, clean(p, b->paths, 300)), *c;
        for (c = paths; *c; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t')
                *c = ' ';
        what = what ? apr_pstrcat(p, what, ": ", paths, NULL) : paths;
    }
    return what ? apr_pstrcat(p, s, " (", what, ")", NULL) : s;
}

char *wsg_lapi_alerts_json(apr_pool_t *p, const wsg_lapi_ban_t *bans, int n, apr_time_t now,
                           int ***map)
{
    json_t *arr = json_array();
    const char **scen = apr_pcalloc(p, sizeof(*scen) * (n ? n : 1));
    int *group = apr_pcalloc(p, sizeof(int) * (n ? n : 1));
    int ngroups = 0, g, i;
    int **m;
    const char *at = utc_str(p, now);
    char *text;

    /* one alert per scenario, in order of first appearance */
    for (i = 0; i < n; i++) {
        const char *sc = scenario_of(p, &bans[i]);
        for (g = 0; g < ngroups && strcmp(scen[g], sc); g++)
            ;
        if (g == ngroups)
            scen[ngroups++] = sc;
        group[i] = g;
    }
    m = apr_pcalloc(p, sizeof(*m) * (ngroups + 1));
    for (g = 0; g < ngroups; g++) {
        json_t *decs = json_array(), *alert;
        const char *msg = NULL;
        int count = 0, k = 0;
        apr_int64_t events = 0;
        const wsg_lapi_ban_t *first = NULL;

        for (i = 0; i < n; i++)
            count += group[i] == g;
        m[g] = apr_palloc(p, sizeof(int) * (count + 1));
        for (i = 0; i < n; i++) {
            const wsg_lapi_ban_t *b = &bans[i];
            const char *sum;
            if (group[i] != g)
                continue;
            if (!first)
                first = b;
            m[g][k++] = i;
            events += b->probes ? b->probes : 1;
            json_array_append_new(decs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
                "duration", wsg_go_duration_format(p, b->duration),
                "type", "ban",
                "scope", b->is_range ? "Range" : "Ip",
                "value", clean(p, b->value, 64),
                "origin", WSG_LAPI_ORIGIN,
                "scenario", scen[g]));
            sum = ban_summary(p, b);
            if (!msg)
                msg = sum;
            else if (strlen(msg) + strlen(sum) + 2 < LAPI_MSG_MAX)
                msg = apr_pstrcat(p, msg, "; ", sum, NULL);
        }
        m[g][k] = -1;
        msg = apr_psprintf(p, "%s banned %d %s for %s: %s", WSG_LAPI_ORIGIN, count,
                           count == 1 ? "client" : "clients", scen[g], msg ? msg : "");
        if (strlen(msg) >= LAPI_MSG_MAX)
            msg = clean(p, msg, LAPI_MSG_MAX);
        if (events > 2147483647)
            events = 2147483647;
        alert = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:s, s:b, s:[], s:{s:s, s:s}, s:o}",
            "scenario", scen[g], "scenario_hash", "", "scenario_version", "",
            "message", msg, "events_count", (json_int_t)events,
            "start_at", at, "stop_at", at, "capacity", 0, "leakspeed", "", "simulated", 0,
            "events",
            "source",
              /* one ban: the alert's source is that client; several: a batch, as cscli import does */
              "scope", count == 1 ? (first->is_range ? "Range" : "Ip") : WSG_LAPI_ORIGIN "/batch",
              "value", count == 1 ? clean(p, first->value, 64) : "",
            "decisions", decs);
        json_array_append_new(arr, alert);
    }
    m[ngroups] = NULL;
    if (map)
        *map = m;
    {
        char *dump = json_dumps(arr, JSON_COMPACT);
        text = apr_pstrdup(p, dump ? dump : "[]");
        free(dump);
    }
    json_decref(arr);
    return text;
}

static int read_index(const char **s, int *out)
{
    int v = 0, d = 0;
    while (**s >= '0' && **s <= '9' && d < 9) {
        v = v * 10 + (*(*s)++ - '0');
        d++;
    }
    if (!d || **s != '.')
        return 0;
    (*s)++;
    *out = v;
    return 1;
}

int wsg_lapi_blame(const char *message, int **map, int nbans, int *bad)
{
    const char *line = message;
    int named = 0, ngroups = 0;

    if (!message || !map)
        return 0;
    while (map[ngroups])
        ngroups++;
    while (line && *line) {
        const char *s = line, *nl = strchr(line, '\n');
        int a, d;
        while (*s == ' ' || *s == '-')
            s++;
        if (read_index(&s, &a) && a < ngroups) {
            int k;
            if (!strncmp(s, "decisions.", 10) && (s += 10, read_index(&s, &d))) {
                for (k = 0; map[a][k] >= 0 && k < d; k++)
                    ;
                if (k == d && map[a][k] >= 0 && map[a][k] < nbans) {
                    bad[map[a][k]] = 1;
                    named++;
                }
            }
            else {
                for (k = 0; map[a][k] >= 0; k++)
                    if (map[a][k] < nbans)
                        bad[map[a][k]] = 1;
                named++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return named;
}

/* ---- stream and login ---------------------------------------------------------------------------- */

static const char *jstr(apr_pool_t *p, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? apr_pstrmemdup(p, json_string_value(v), json_string_length(v)) : NULL;
}

static void parse_list(apr_pool_t *p, json_t *list, apr_array_header_t *into, int *skipped)
{
    size_t i;
    json_t *d;
    if (!json_is_array(list))
        return;              /* null (1.4.6) or absent: nothing */
    json_array_foreach(list, i, d) {
        wsg_lapi_decision_t x;
        const char *dur;
        json_t *id;
        memset(&x, 0, sizeof(x));
        if (!json_is_object(d)) {
            (*skipped)++;
            continue;
        }
        x.value = jstr(p, d, "value");
        x.scope = jstr(p, d, "scope");
        x.type = jstr(p, d, "type");
        x.origin = jstr(p, d, "origin");
        x.scenario = jstr(p, d, "scenario");
        dur = jstr(p, d, "duration");
        id = json_object_get(d, "id");
        x.id = json_is_integer(id) ? (apr_int64_t)json_integer_value(id) : 0;
        if (!x.value || !x.scope || !dur || wsg_go_duration_parse(dur, &x.duration) != APR_SUCCESS) {
            (*skipped)++;
            continue;
        }
        if (!x.type)
            x.type = "ban";
        if (!x.origin)
            x.origin = "";
        if (!x.scenario)
            x.scenario = "";
        *(wsg_lapi_decision_t *)apr_array_push(into) = x;
    }
}

apr_status_t wsg_lapi_stream_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                   wsg_lapi_stream_t *out, const char **err)
{
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, 0, &je);

    memset(out, 0, sizeof(*out));
    out->added = apr_array_make(p, 16, sizeof(wsg_lapi_decision_t));
    out->deleted = apr_array_make(p, 16, sizeof(wsg_lapi_decision_t));
    if (!root || !json_is_object(root)) {
        if (err)
            *err = root ? "decision stream: the answer is not a JSON object"
                        : apr_psprintf(p, "decision stream: not JSON (%s at byte %d)", je.text,
                                       je.position);
        json_decref(root);
        return APR_EGENERAL;
    }
    parse_list(p, json_object_get(root, "new"), out->added, &out->skipped);
    parse_list(p, json_object_get(root, "deleted"), out->deleted, &out->skipped);
    json_decref(root);
    return APR_SUCCESS;
}

apr_status_t wsg_lapi_login_parse(apr_pool_t *p, const char *body, apr_size_t len,
                                  const char **token, apr_time_t *expire, const char **err)
{
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, 0, &je);
    const char *tok, *exp;

    if (!json_is_object(root) || !(tok = jstr(p, root, "token")) || !*tok) {
        json_decref(root);
        if (err)
            *err = "login answer without a token";
        return APR_EGENERAL;
    }
    exp = jstr(p, root, "expire");
    json_decref(root);
    *token = tok;
    /* 1.4.6 gives the JWT one hour; without a readable expiry assume less to be safe */
    if (!exp || wsg_event_time_parse(exp, expire) != APR_SUCCESS)
        *expire = apr_time_now() + apr_time_from_sec(30 * 60);
    return APR_SUCCESS;
}

/* ---- transport ------------------------------------------------------------------------------------ */

struct wsg_lapi_t {
    apr_pool_t *pool;
    CURL       *h;
    const char *url;          /* without trailing slash */
    wsg_lapi_opts_t o;
    char       *token;        /* malloc'd (lives across the caller's pools) */
    apr_time_t  token_expire;
    char       *buf;          /* answer body, malloc'd, NUL-terminated */
    size_t      len, cap;
    int         overflow;
    char        errbuf[CURL_ERROR_SIZE];
};

static int curl_inited;

apr_status_t wsg_lapi_global_init(const char **err)
{
    CURLcode rc;
    if (curl_inited)
        return APR_SUCCESS;
    if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
        if (err)
            *err = curl_easy_strerror(rc);
        return APR_EGENERAL;
    }
    curl_inited = 1;
    return APR_SUCCESS;
}

static apr_status_t client_cleanup(void *data)
{
    wsg_lapi_t *cl = data;
    if (cl->h)
        curl_easy_cleanup(cl->h);
    cl->h = NULL;
    free(cl->token);
    free(cl->buf);
    cl->token = cl->buf = NULL;
    return APR_SUCCESS;
}

static apr_status_t check_file(apr_pool_t *p, const char *what, const char *path, const char **err)
{
    if (path && access(path, R_OK) != 0) {
        *err = apr_psprintf(p, "%s %s is not readable", what, path);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t wsg_lapi_create(apr_pool_t *p, const wsg_lapi_opts_t *opts, wsg_lapi_t **out,
                             const char **err)
{
    wsg_lapi_t *cl;
    const char *u = opts->url, *dummy;
    apr_size_t l;

    if (!err)
        err = &dummy;
    if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
        || !u[strncmp(u, "http://", 7) ? 8 : 7] || strpbrk(u, " \t\r\n?#")) {
        *err = apr_psprintf(p, "'%s' is not an http:// or https:// URL of a CrowdSec LAPI",
                            u ? u : "");
        return APR_EINVAL;
    }
    if ((opts->machine == NULL) != (opts->password == NULL)) {
        *err = "a machine login needs both a login and a password";
        return APR_EINVAL;
    }
    if (check_file(p, "CA file", opts->ca_file, err) || check_file(p, "certificate file",
                                                                    opts->cert_file, err)
        || check_file(p, "key file", opts->key_file, err))
        return APR_EINVAL;
    if (wsg_lapi_global_init(err) != APR_SUCCESS)
        return APR_EGENERAL;
    cl = apr_pcalloc(p, sizeof(*cl));
    cl->pool = p;
    cl->o = *opts;
    l = strlen(u);
    while (l > 0 && u[l - 1] == '/')
        l--;
    cl->url = apr_pstrmemdup(p, u, l);
    /* a URL given with "/v1" (as some bouncers' configs spell it) works too */
    if (l >= 3 && !strcmp(cl->url + l - 3, "/v1"))
        cl->url = apr_pstrmemdup(p, u, l - 3);
    if (!(cl->h = curl_easy_init())) {
        *err = "curl_easy_init failed";
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, cl, client_cleanup, apr_pool_cleanup_null);
    *out = cl;
    return APR_SUCCESS;
}

int wsg_lapi_can_push(const wsg_lapi_t *cl)
{
    return cl->o.machine != NULL;
}

int wsg_lapi_can_pull(const wsg_lapi_t *cl)
{
    return cl->o.bouncer_key != NULL;
}

void wsg_lapi_logout(wsg_lapi_t *cl)
{
    free(cl->token);
    cl->token = NULL;
    cl->token_expire = 0;
}

apr_status_t wsg_lapi_token_set(wsg_lapi_t *cl, const char *token, apr_time_t expire)
{
    char *dup = strdup(token);
    if (!dup)
        return APR_ENOMEM;
    wsg_lapi_logout(cl);
    cl->token = dup;
    cl->token_expire = expire;
    return APR_SUCCESS;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *baton)
{
    wsg_lapi_t *cl = baton;
    size_t n = size * nmemb;
    if (cl->len + n + 1 > LAPI_MAX_BODY) {
        cl->overflow = 1;
        return 0;
    }
    if (cl->len + n + 1 > cl->cap) {
        size_t ncap = cl->cap ? cl->cap : 16384;
        char *nb;
        while (ncap < cl->len + n + 1)
            ncap *= 2;
        if (!(nb = realloc(cl->buf, ncap)))
            return 0;
        cl->buf = nb;
        cl->cap = ncap;
    }
    memcpy(cl->buf + cl->len, data, n);
    cl->len += n;
    cl->buf[cl->len] = '\0';
    return n;
}

enum { AUTH_NONE, AUTH_JWT, AUTH_KEY };

static long ms_of(apr_interval_time_t t, long dflt)
{
    return t > 0 ? (long)(t / 1000 ? t / 1000 : 1) : dflt;
}

/* The LAPI's "message" (or the start of the body), safe to quote. */
static const char *answer_text(wsg_lapi_t *cl, apr_pool_t *p)
{
    json_t *root;
    const char *msg = NULL;
    if (!cl->len)
        return "(empty answer)";
    root = json_loadb(cl->buf, cl->len, 0, NULL);
    if (json_is_object(root))
        msg = jstr(p, root, "message");
    json_decref(root);
    if (!msg)
        msg = apr_pstrmemdup(p, cl->buf, cl->len > LAPI_SHOW_MAX ? LAPI_SHOW_MAX : cl->len);
    return msg;
}

static const char *oneline(apr_pool_t *p, const char *s)
{
    char *c, *t = apr_pstrdup(p, clean(p, s, LAPI_SHOW_MAX));
    for (c = t; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return t;
}

/* One HTTP exchange. Transport failures are APR_ECONNREFUSED / APR_EGENERAL with *err set;
 * otherwise APR_SUCCESS with *status, the body in cl->buf/cl->len. */
static apr_status_t request(wsg_lapi_t *cl, apr_pool_t *p, const char *method, const char *path,
                            const char *body, int auth, long *status, const char **err)
{
    struct curl_slist *hdr = NULL;
    const char *url = apr_pstrcat(p, cl->url, path, NULL);
    CURLcode rc;
    apr_status_t rv = APR_SUCCESS;
    CURL *h = cl->h;

    /* reset keeps the live connection and its TLS session: only the options are cleared */
    curl_easy_reset(h);
    cl->len = 0;
    cl->overflow = 0;
    if (cl->buf)
        cl->buf[0] = '\0';
    cl->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms_of(cl->o.connect_timeout, 3000));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms_of(cl->o.timeout, 30000));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cl->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, cl);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mod_wsguard/0.1");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (cl->o.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, cl->o.ca_file);
    if (cl->o.cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, cl->o.cert_file);
    if (cl->o.key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, cl->o.key_file);
    hdr = curl_slist_append(hdr, "Accept: application/json");
    if (body)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (auth == AUTH_JWT && cl->token)
        hdr = curl_slist_append(hdr, apr_pstrcat(p, "Authorization: Bearer ", cl->token, NULL));
    else if (auth == AUTH_KEY && cl->o.bouncer_key)
        hdr = curl_slist_append(hdr, apr_pstrcat(p, "X-Api-Key: ", cl->o.bouncer_key, NULL));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (strcmp(method, "GET") && strcmp(method, "POST"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

    rc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    if (rc != CURLE_OK) {
        const char *why = cl->overflow ? "answer too large" : cl->errbuf[0] ? cl->errbuf
                                                                             : curl_easy_strerror(rc);
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT: case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
            rv = APR_ECONNREFUSED;
            break;
        default:
            rv = APR_EGENERAL;
        }
        *err = apr_psprintf(p, "CrowdSec LAPI %s %s: %s", method, url, why);
        return rv;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return APR_SUCCESS;
}

/* An HTTP status that is not the expected one: which error, and the message. */
static apr_status_t http_error(wsg_lapi_t *cl, apr_pool_t *p, const char *what, long status,
                               const char **err)
{
    const char *msg = answer_text(cl, p);
    *err = apr_psprintf(p, "CrowdSec LAPI %s: %s answered HTTP %ld: %s", cl->url, what, status,
                        oneline(p, msg));
    if (status == 401 || status == 403)
        return APR_EACCES;
    if (status == 502 || status == 503 || status == 504)
        return APR_ECONNREFUSED;   /* a proxy in front of a LAPI that is down */
    return APR_EGENERAL;
}

apr_status_t wsg_lapi_login(wsg_lapi_t *cl, apr_pool_t *p, apr_time_t now, const char **err)
{
    long status = 0;
    apr_status_t rv;
    const char *tok, *body, *dummy;
    apr_time_t exp;
    char *dup;

    if (!err)
        err = &dummy;
    if (!cl->o.machine) {
        *err = "no machine login configured (machine= and password-file=)";
        return APR_EINVAL;
    }
    if (cl->token && now + LAPI_TOKEN_MARGIN < cl->token_expire)
        return APR_SUCCESS;
    wsg_lapi_logout(cl);
    {
        json_t *o = json_pack("{s:s, s:s, s:[s]}", "machine_id", clean(p, cl->o.machine, 256),
                              "password", clean(p, cl->o.password, 1024), "scenarios",
                              WSG_LAPI_SCENARIO_PFX "probe");
        char *d = json_dumps(o, JSON_COMPACT);
        body = apr_pstrdup(p, d ? d : "{}");
        free(d);
        json_decref(o);
    }
    if ((rv = request(cl, p, "POST", "/v1/watchers/login", body, AUTH_NONE, &status, err)))
        return rv;
    if (status != 200)
        return http_error(cl, p, apr_psprintf(p, "the login of machine '%s'",
                                             clean(p, cl->o.machine, 64)), status, err);
    if ((rv = wsg_lapi_login_parse(p, cl->buf, cl->len, &tok, &exp, err)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "CrowdSec LAPI %s: %s", cl->url, *err);
        return rv;
    }
    if (!(dup = strdup(tok)))
        return APR_ENOMEM;
    cl->token = dup;
    /* trust our clock less than the LAPI's: never keep a token past an hour from now */
    cl->token_expire = exp < now + apr_time_from_sec(3600) ? exp : now + apr_time_from_sec(3600);
    return APR_SUCCESS;
}

/* A request with the machine's JWT: logs in first, and once more after a 401 (expired token, or a
 * LAPI restarted with another JWT secret). */
static apr_status_t jwt_request(wsg_lapi_t *cl, apr_pool_t *p, const char *method,
                                const char *path, const char *body, apr_time_t now, long *status,
                                const char **err)
{
    int attempt;
    apr_status_t rv;
    for (attempt = 0; attempt < 2; attempt++) {
        if ((rv = wsg_lapi_login(cl, p, now, err)) != APR_SUCCESS)
            return rv;
        if ((rv = request(cl, p, method, path, body, AUTH_JWT, status, err)) != APR_SUCCESS)
            return rv;
        if (*status != 401)
            return APR_SUCCESS;
        wsg_lapi_logout(cl);
    }
    return APR_SUCCESS;
}

/* 1.4.6 answers a request the swagger rejects, or a duration it cannot parse, with a 500 (or a
 * 400 for JSON it cannot bind): these are permanent, unlike a database hiccup. */
static int permanent(const char *msg)
{
    return strstr(msg, "validation failure") || strstr(msg, "time: unknown unit")
        || strstr(msg, "invalid addr/range") || strstr(msg, "unable to parse duration")
        || strstr(msg, "time: invalid duration") || strstr(msg, "time: missing unit")
        || strstr(msg, "json: cannot unmarshal") || strstr(msg, "invalid character");
}

apr_status_t wsg_lapi_push(wsg_lapi_t *cl, apr_pool_t *p, const wsg_lapi_ban_t *bans, int n,
                           apr_time_t now, wsg_lapi_push_result_t *res, const char **err)
{
    int **map;
    const char *body, *dummy;
    long status = 0;
    apr_status_t rv;

    if (!err)
        err = &dummy;
    memset(res, 0, sizeof(*res));
    if (n <= 0)
        return APR_SUCCESS;
    body = wsg_lapi_alerts_json(p, bans, n, now, &map);
    if ((rv = jwt_request(cl, p, "POST", "/v1/alerts", body, now, &status, err)) != APR_SUCCESS)
        return rv;
    if (status == 200 || status == 201)
        return APR_SUCCESS;
    if (status == 500 || status == 400) {
        const char *msg = answer_text(cl, p);
        if (permanent(msg)) {
            res->bad = apr_pcalloc(p, sizeof(int) * n);
            res->message = msg;
            wsg_lapi_blame(msg, map, n, res->bad);
            for (int i = 0; i < n; i++)
                res->nbad += res->bad[i];
            *err = apr_psprintf(p, "CrowdSec LAPI %s: the alert was refused (HTTP %ld): %s",
                                cl->url, status, oneline(p, msg));
            return APR_EINVAL;
        }
    }
    return http_error(cl, p, "POST /v1/alerts", status, err);
}

apr_status_t wsg_lapi_delete(wsg_lapi_t *cl, apr_pool_t *p, const char *value, int is_range,
                             apr_time_t now, int *deleted, const char **err)
{
    char *esc;
    const char *path, *dummy;
    long status = 0;
    apr_status_t rv;

    if (!err)
        err = &dummy;
    if (deleted)
        *deleted = 0;
    if (!(esc = curl_easy_escape(cl->h, value, 0)))
        return APR_ENOMEM;
    path = apr_psprintf(p, "/v1/decisions?%s=%s&contains=false", is_range ? "range" : "ip", esc);
    curl_free(esc);
    if ((rv = jwt_request(cl, p, "DELETE", path, NULL, now, &status, err)) != APR_SUCCESS)
        return rv;
    if (status == 200) {
        if (deleted) {
            json_t *root = json_loadb(cl->buf, cl->len, 0, NULL);
            const char *nb = json_is_object(root) ? jstr(p, root, "nbDeleted") : NULL;
            json_t *ni = json_is_object(root) ? json_object_get(root, "nbDeleted") : NULL;
            *deleted = nb ? atoi(nb) : json_is_integer(ni) ? (int)json_integer_value(ni) : 0;
            json_decref(root);
        }
        return APR_SUCCESS;
    }
    if (status == 500 || status == 400) {
        const char *msg = answer_text(cl, p);
        if (strstr(msg, "unable to convert") || strstr(msg, "invalid")) {
            *err = apr_psprintf(p, "CrowdSec LAPI %s: deleting '%s' refused (HTTP %ld): %s",
                                cl->url, clean(p, value, 64), status, oneline(p, msg));
            return APR_EINVAL;
        }
    }
    return http_error(cl, p, apr_psprintf(p, "DELETE decisions of %s", clean(p, value, 64)),
                      status, err);
}

apr_status_t wsg_lapi_pull(wsg_lapi_t *cl, apr_pool_t *p, int startup, wsg_lapi_stream_t *out,
                           const char **err)
{
    long status = 0;
    apr_status_t rv;
    const char *dummy;

    if (!err)
        err = &dummy;
    if (!cl->o.bouncer_key) {
        *err = "no bouncer key configured (bouncer-key-file=)";
        return APR_EINVAL;
    }
    rv = request(cl, p, "GET", startup ? "/v1/decisions/stream?startup=true" : "/v1/decisions/stream",
                 NULL, AUTH_KEY, &status, err);
    if (rv != APR_SUCCESS)
        return rv;
    if (status != 200)
        return http_error(cl, p, "the decision stream (bouncer key)", status, err);
    if ((rv = wsg_lapi_stream_parse(p, cl->buf, cl->len, out, err)) != APR_SUCCESS)
        *err = apr_psprintf(p, "CrowdSec LAPI %s: %s", cl->url, *err);
    return rv;
}

apr_status_t wsg_lapi_health(wsg_lapi_t *cl, apr_pool_t *p, const char **err)
{
    long status = 0;
    const char *dummy;
    apr_status_t rv;
    if (!err)
        err = &dummy;
    if ((rv = request(cl, p, "GET", "/health", NULL, AUTH_NONE, &status, err)) != APR_SUCCESS)
        return rv;
    return status == 200 ? APR_SUCCESS : http_error(cl, p, "GET /health", status, err);
}
