/* wsg_event: builds the JSON event-log line (jansson), sanitising foreign bytes so that whatever a
 * client sends, the result is one valid JSON object on one line that fits one atomic write. */
#include <string.h>
#include <stdio.h>
#include <math.h>
#include <apr_strings.h>
#include <jansson.h>

#include "wsg_event.h"
#include "wsg_norm.h"
#include "wsg_util.h"

/* Cap on rule ids listed: a request rarely matches more, and the line must stay small. */
#define EV_MAX_RULES 32
/* Short fields (address, method, tag, action, vhost) never need more than this. */
#define EV_SHORT_MAX 256

const char *wsg_event_time_str(apr_time_t t, char *buf)
{
    apr_time_exp_t x;
    if (apr_time_exp_gmt(&x, t) != APR_SUCCESS)
        memset(&x, 0, sizeof(x));
    apr_snprintf(buf, WSG_EVENT_TIMESTR, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             x.tm_year + 1900, x.tm_mon + 1, x.tm_mday, x.tm_hour, x.tm_min, x.tm_sec,
             x.tm_usec / 1000);
    return buf;
}

static int digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return 0;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 1;
}

apr_status_t wsg_event_time_parse(const char *text, apr_time_t *out)
{
    apr_time_exp_t x;
    const char *s = text;
    int y, mo, d, h = 0, mi = 0, sec = 0, usec = 0, off = 0;

    if (!s || !digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-'
        || !digits(&s, 2, &d))
        return APR_EINVAL;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi))
            return APR_EINVAL;
        if (*s == ':') {
            s++;
            if (!digits(&s, 2, &sec))
                return APR_EINVAL;
            if (*s == '.') {
                int scale = 100000;
                s++;
                if (*s < '0' || *s > '9')
                    return APR_EINVAL;
                for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
                    usec += (*s - '0') * scale;
            }
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        }
        else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
            if (!digits(&s, 2, &oh))
                return APR_EINVAL;
            if (*s == ':')
                s++;
            if (*s && !digits(&s, 2, &om))
                return APR_EINVAL;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return APR_EINVAL;
    memset(&x, 0, sizeof(x));
    x.tm_year = y - 1900;
    x.tm_mon = mo - 1;
    x.tm_mday = d;
    x.tm_hour = h;
    x.tm_min = mi;
    x.tm_sec = sec;
    x.tm_usec = usec;
    if (apr_time_exp_gmt_get(out, &x) != APR_SUCCESS)
        return APR_EINVAL;
    *out -= apr_time_from_sec(off);
    return APR_SUCCESS;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid (overlong, surrogate,
 * beyond U+10FFFF, truncated, or a NUL which would cut the C string). */
static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n)
{
    unsigned c = s[0];
    apr_size_t need;
    unsigned cp, min;

    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)      { need = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { need = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { need = 4; cp = c & 0x07; min = 0x10000; }
    else
        return 0;
    if (n < need)
        return 0;
    for (apr_size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

char *wsg_event_utf8_clean(apr_pool_t *p, const char *s, apr_size_t len, apr_size_t max_bytes)
{
    static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t cap = len * 3 + 4, o = 0, i = 0;
    char *out;

    if (max_bytes) {
        /* Cut only when the cleaned text would not fit as a whole. */
        apr_size_t total = 0;
        for (i = 0; i < len;) {
            apr_size_t k = utf8_seq(u + i, len - i);
            total += k ? k : 3;
            i += k ? k : 1;
        }
        i = 0;
        if (total <= max_bytes)
            max_bytes = 0;
        else if (cap > max_bytes + 4)
            cap = max_bytes + 4;
    }
    out = apr_palloc(p, cap + 1);
    while (i < len) {
        apr_size_t k = utf8_seq(u + i, len - i);
        apr_size_t w = k ? k : 3;
        if (max_bytes && o + w > max_bytes - (max_bytes > 3 ? 3 : 0)) {
            /* Leave room for the "..." that says the field was cut. */
            if (max_bytes > 3) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (k) {
            memcpy(out + o, s + i, k);
            i += k;
        }
        else {
            memcpy(out + o, repl, 3);
            i++;
        }
        o += w;
    }
    out[o] = '\0';
    return out;
}

/* A string field: valid UTF-8, and no control byte in the value at all (jansson would escape
 * them in the line, but whoever reads the log decodes them back into raw CR, LF or ESC for a
 * terminal or a spreadsheet): the request's path and URI get them as %XX (how a client must
 * send them), other fields as \xNN. 0x7f, which JSON leaves raw, goes the same way. */
static void set_str_esc(apr_pool_t *p, json_t *obj, const char *key, const char *val,
                        apr_size_t max, int esc)
{
    char *v;
    if (!val) {
        json_object_set_new(obj, key, json_null());
        return;
    }
    v = wsg_event_utf8_clean(p, val, strlen(val), max);
    if (wsg_has_ctl(v, strlen(v)))
        v = wsg_escape_ctl(p, v, strlen(v), max, esc);
    json_object_set_new(obj, key, json_string(v));
}

static void set_str(apr_pool_t *p, json_t *obj, const char *key, const char *val, apr_size_t max)
{
    set_str_esc(p, obj, key, val, max, 0);
}

static void set_time(json_t *obj, const char *key, apr_time_t t)
{
    char buf[WSG_EVENT_TIMESTR];
    json_object_set_new(obj, key, t ? json_string(wsg_event_time_str(t, buf)) : json_null());
}

static json_t *flags_array(unsigned flags)
{
    json_t *arr = json_array();
    char buf[512], *save = NULL, *tok;

    if (!flags)
        return arr;
    wsg_norm_flags_str(flags, buf, sizeof(buf));
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok)
            json_array_append_new(arr, json_string(tok));
    }
    return arr;
}

/* Builds the object with long strings limited to long_max bytes each. */
static json_t *build(apr_pool_t *p, const wsg_event_t *ev, apr_size_t long_max)
{
    json_t *o = json_object(), *rules = json_array(), *real;
    int n = ev->n_rules < EV_MAX_RULES ? ev->n_rules : EV_MAX_RULES;
    apr_size_t short_max = EV_SHORT_MAX < long_max ? EV_SHORT_MAX : long_max;

    set_time(o, "time", ev->time ? ev->time : apr_time_now());
    set_str(p, o, "event", ev->event, short_max);
    set_str(p, o, "client", ev->client, short_max);
    set_str(p, o, "vhost", ev->vhost, short_max);
    set_str(p, o, "method", ev->method, short_max);
    set_str_esc(p, o, "uri", ev->uri, long_max, WSG_ESC_PERCENT);
    set_str_esc(p, o, "path", ev->path, long_max, WSG_ESC_PERCENT);
    json_object_set_new(o, "status", ev->status ? json_integer(ev->status) : json_null());
    set_str(p, o, "ua", ev->ua, long_max);
    for (int i = 0; ev->rule_ids && i < n; i++)
        json_array_append_new(rules, json_integer(ev->rule_ids[i]));
    json_object_set_new(o, "rules", rules);
    set_str(p, o, "tag", ev->tag, short_max);
    set_str(p, o, "msg", ev->msg, long_max);
    json_object_set_new(o, "score", json_integer(ev->req_score));
    /* json_real refuses NaN/inf, which would otherwise make set_new drop the key silently. */
    real = isfinite(ev->client_score) ? json_real(round(ev->client_score * 1000.0) / 1000.0) : NULL;
    json_object_set_new(o, "client_score", real ? real : json_null());
    set_str(p, o, "action", ev->action, short_max);
    set_time(o, "ban_until", ev->ban_until);
    json_object_set_new(o, "flags", flags_array(ev->norm_flags));
    if (ev->count) {
        json_t *paths = json_array();
        int np = ev->n_paths < WSG_EVENT_PATHS_MAX ? ev->n_paths : WSG_EVENT_PATHS_MAX;
        json_object_set_new(o, "count", json_integer(ev->count));
        set_time(o, "since", ev->since);
        for (int i = 0; ev->paths && i < np; i++) {
            /* each path gets a share of the budget, so the line still fits when they are long */
            json_t *tmp = json_object();
            set_str_esc(p, tmp, "p", ev->paths[i], long_max / 8 > 16 ? long_max / 8 : 16,
                        WSG_ESC_PERCENT);
            json_array_append(paths, json_object_get(tmp, "p"));
            json_decref(tmp);
        }
        json_object_set_new(o, "paths", paths);
    }
    return o;
}

char *wsg_event_json(apr_pool_t *p, const wsg_event_t *ev, apr_size_t *len)
{
    /* Start generous and halve the long fields until the line fits: escaping can grow a field
     * up to six times (\u00XX), so a byte budget on the input alone is not enough. ENSURE_ASCII
     * keeps U+2028/U+2029 and terminal-confusing characters out of the log as raw bytes. */
    apr_size_t long_max = 2048;
    char *line = NULL;

    if (!ev || !ev->event)
        return NULL;
    for (;;) {
        json_t *o = build(p, ev, long_max);
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER
                                | JSON_REAL_PRECISION(12));
        json_decref(o);
        if (s) {
            apr_size_t n = strlen(s);
            if (n + 1 < WSG_EVENT_LINE_MAX || long_max <= 16) {
                line = apr_palloc(p, n + 2);
                memcpy(line, s, n);
                line[n] = '\n';
                line[n + 1] = '\0';
                if (len)
                    *len = n + 1;
                free(s);
                return line;
            }
            free(s);
        }
        else if (long_max <= 16) {
            return NULL;
        }
        long_max /= 2;
    }
}
