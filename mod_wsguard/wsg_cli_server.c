/* wsg_cli_server: wsguardctl speaks for the server whose state it opens. The policy the module
 * recorded at its start (wsg_store_put_policy) gives the defaults (ban length, half-life of the
 * scores shown, what purge deletes); the audit trail records every ban, unban, import and purge
 * the CLI does, in the server's event log (a file) or in STATEDIR/audit.log.
 *
 * Trusting the recorded event log path. The policy lives in the state, which the children's
 * user (www-data) can write: a web shell could put any path there, and the CLI appends to it as
 * root. So the path is used only for a file that is plainly an event log: a regular file (the
 * last component not a symlink, O_NOFOLLOW), one link, not created by us (O_CREAT is not used),
 * whose last line is a JSON object with "time" and "event" (what wsg_event writes), or, empty
 * (just rotated), whose name ends in .log, .json or .jsonl (names cron, sudoers.d, profile.d and
 * run-parts ignore). Anything else: the trail goes to STATEDIR/audit.log, written as the state's
 * owner, and the line says why the event log was not used. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <jansson.h>
#include "wsg_cli.h"
#include "wsg_event.h"

void wsg_cli_policy_apply(wsg_cli_t *cli, wsg_store_t *st)
{
    wsg_store_policy_t pol;

    cli->have_server = 0;
    if (wsg_store_get_policy(st, &pol) == APR_SUCCESS) {
        cli->have_server = 1;
        cli->server = pol;
        cli->policy.ratelimit = pol.ratelimit;
        cli->policy.ban = pol.ban;
        cli->policy.prefix_ban = pol.prefix_ban;
        if (pol.ban_time > 0)
            cli->policy.ban_time = pol.ban_time;
        if (pol.ban_max > 0)
            cli->policy.ban_max = pol.ban_max;
        cli->policy.halflife = pol.halflife;
    }
    if (cli->halflife_opt > 0)
        cli->policy.halflife = cli->halflife_opt;
}

void wsg_cli_policy_peek(wsg_cli_t *cli)
{
    FILE *err = cli->err, *null = fopen("/dev/null", "w");
    int keep = cli->keep_root;
    wsg_store_t *st;

    /* Read-only, as the state's owner only while opening (keep_root): the verb goes on as
     * root (import reads its file before it writes). Quiet: a missing state is the verb's to
     * report when it opens it for real. */
    cli->keep_root = 1;
    if (null)
        cli->err = null;
    if ((st = wsg_cli_store(cli, 0)) != NULL)
        wsg_store_close(st);
    cli->err = err;
    cli->keep_root = keep;
    if (null)
        fclose(null);
}

static const char *dur_text(apr_pool_t *p, apr_interval_time_t d)
{
    apr_int64_t s = d / APR_USEC_PER_SEC;
    if (d <= 0)
        return "off";
    if (s % 86400 == 0)
        return apr_psprintf(p, "%" APR_INT64_T_FMT "d", s / 86400);
    if (s % 3600 == 0)
        return apr_psprintf(p, "%" APR_INT64_T_FMT "h", s / 3600);
    if (s % 60 == 0)
        return apr_psprintf(p, "%" APR_INT64_T_FMT "m", s / 60);
    return apr_psprintf(p, "%" APR_INT64_T_FMT "s", s);
}

const char *wsg_cli_policy_note(wsg_cli_t *cli)
{
    char t[WSG_EVENT_TIMESTR];
    const char *what = apr_psprintf(cli->pool, "thresholds %.4g/%.4g, ban %s (max %s), "
                                    "half-life %s%s", cli->policy.ratelimit, cli->policy.ban,
                                    dur_text(cli->pool, cli->policy.ban_time),
                                    dur_text(cli->pool, cli->policy.ban_max),
                                    dur_text(cli->pool, cli->policy.halflife),
                                    cli->halflife_opt > 0 ? " (--halflife)" : "");
    if (!cli->have_server)
        return apr_pstrcat(cli->pool, "the module's defaults (no server has recorded its policy "
                           "in this state): ", what, NULL);
    return apr_pstrcat(cli->pool, "the server's (", *cli->server.server ? cli->server.server
                       : "?", ", recorded ", wsg_event_time_str(cli->server.written, t),
                       cli->server.engine == 2 ? ", DetectionOnly" : cli->server.engine == 0
                       ? ", engine Off" : "", "): ", what, NULL);
}

/* ---- audit trail ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Whether fd's last line is one of wsg_event's (see the header comment). */
static int looks_like_event_log(apr_pool_t *p, int fd, const struct stat *sb, const char *path)
{
    char buf[4097];
    off_t from;
    ssize_t n;
    char *end, *line;
    json_t *j;
    int ok;

    if (sb->st_size == 0) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        return ends_with(base, ".log") || ends_with(base, ".json") || ends_with(base, ".jsonl");
    }
    from = sb->st_size > 4096 ? sb->st_size - 4096 : 0;
    if ((n = pread(fd, buf, (size_t)(sb->st_size - from), from)) <= 0)
        return 0;
    buf[n] = '\0';
    end = buf + n;
    while (end > buf && end[-1] == '\n')
        *--end = '\0';
    line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    if (line == buf && from > 0)
        return 0;      /* the last line does not fit: not ours (ours are < 4000 bytes) */
    j = json_loads(line, 0, NULL);
    ok = j && json_is_object(j) && json_is_string(json_object_get(j, "time"))
         && json_is_string(json_object_get(j, "event"));
    json_decref(j);
    (void)p;
    return ok;
}

void wsg_cli_audit_open_log(wsg_cli_t *cli)
{
    const char *path = cli->server.event_log;
    struct stat sb, pb;
    int fd, pfd;

    if (!cli->have_server) {
        cli->audit_why = "no policy recorded";
        return;
    }
    if (cli->server.event_log_kind == WSG_STORE_LOG_PIPE) {
        cli->audit_why = "the event log is a pipe";
        return;
    }
    if (cli->server.event_log_kind != WSG_STORE_LOG_FILE || path[0] != '/') {
        cli->audit_why = "no event log file";
        return;
    }
    /* Looked at through an O_PATH descriptor first (opening a device or a FIFO for real can
     * have effects of its own), then the same inode reopened through /proc: no second lookup
     * of the path that a swap could redirect. */
    if ((pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        cli->audit_why = apr_psprintf(cli->pool, "cannot open the event log %s: %s", path,
                                      strerror(errno));
        return;
    }
    if (fstat(pfd, &pb) != 0 || !S_ISREG(pb.st_mode) || pb.st_nlink != 1) {
        close(pfd);
        cli->audit_why = apr_psprintf(cli->pool, "%s is not a regular file with one link: not "
                                      "written", path);
        return;
    }
    fd = open(apr_psprintf(cli->pool, "/proc/self/fd/%d", pfd),
              O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    close(pfd);
    if (fd < 0) {
        cli->audit_why = apr_psprintf(cli->pool, "cannot open the event log %s: %s", path,
                                      strerror(errno));
        return;
    }
    if (fstat(fd, &sb) != 0 || sb.st_dev != pb.st_dev || sb.st_ino != pb.st_ino
        || !S_ISREG(sb.st_mode) || sb.st_nlink != 1
        || !looks_like_event_log(cli->pool, fd, &sb, path)) {
        close(fd);
        cli->audit_why = apr_psprintf(cli->pool, "%s does not look like the event log (a "
                                      "regular file with one link whose last line is an "
                                      "event): not written", path);
        return;
    }
    cli->audit_fd = fd;
    cli->audit_path = apr_pstrdup(cli->pool, path);
}

void wsg_cli_audit_open_state(wsg_cli_t *cli)
{
    const char *path;
    struct stat sb;
    int fd;

    if (cli->audit_fd >= 0)
        return;
    /* As the state's owner (wsguardctl has switched to it): the file is only as trustworthy as
     * that user, which is why the event log is preferred. */
    path = apr_pstrcat(cli->pool, cli->state_dir, "/audit.log", NULL);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
              0640);
    if (fd < 0) {
        fprintf(cli->err, "wsguardctl: cannot open the audit log %s: %s (%s)\n", path,
                strerror(errno), cli->audit_why ? cli->audit_why : "");
        return;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        close(fd);
        fprintf(cli->err, "wsguardctl: %s is not a regular file with one link: not writing "
                          "the audit trail there\n", path);
        return;
    }
    cli->audit_fd = fd;
    cli->audit_path = path;
}

static const char *login_of(apr_pool_t *p, uid_t uid)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        return apr_pstrdup(p, res->pw_name);
    return NULL;
}

void wsg_cli_audit(wsg_cli_t *cli, const char *action, const char *target, const char *reason,
                   long count, apr_time_t ban_until, int argc, const char *const *argv)
{
    wsg_event_t ev;
    const char *line, *sudo = getenv("SUDO_USER");
    char *text;
    json_t *j, *by, *args;
    int i;
    size_t len;
    ssize_t n;

    if (cli->audit_fd < 0) {
        fprintf(cli->err, "wsguardctl: %s not recorded in any audit trail\n", action);
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.event = "admin";
    ev.time = apr_time_now();
    ev.client = target;
    ev.msg = reason;
    ev.action = action;
    ev.ban_until = ban_until;
    if (!(line = wsg_event_json(cli->pool, &ev, NULL)) || !(j = json_loads(line, 0, NULL)))
        return;
    /* who: the real uid (root under sudo), its name, and the sudo caller when there is one */
    by = json_pack("{s:I, s:s?, s:s?}", "uid", (json_int_t)cli->caller_uid,
                   "user", login_of(cli->pool, (uid_t)cli->caller_uid),
                   "sudo_user", sudo && *sudo ? wsg_event_utf8_clean(cli->pool, sudo,
                                                                     strlen(sudo), 64) : NULL);
    args = json_array();
    for (i = 1; i < argc && i < 16; i++)
        json_array_append_new(args, json_string(wsg_event_utf8_clean(cli->pool, argv[i],
                                                                     strlen(argv[i]), 200)));
    json_object_set_new(j, "by", by);
    json_object_set_new(j, "tool", json_string("wsguardctl"));
    json_object_set_new(j, "args", args);
    json_object_set_new(j, "count", json_integer(count));
    json_object_set_new(j, "state", json_string(wsg_event_utf8_clean(cli->pool, cli->state_dir,
                                                                     strlen(cli->state_dir), 300)));
    if (cli->audit_why)
        json_object_set_new(j, "event_log_unused", json_string(cli->audit_why));
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    /* One line below PIPE_BUF like httpd's (one atomic append): long arguments go first. */
    if (text && strlen(text) >= WSG_EVENT_LINE_MAX) {
        free(text);
        json_object_set_new(j, "args", json_string("(too long to record)"));
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(j);
    if (!text)
        return;
    len = strlen(text);
    /* One write of the line and its newline: O_APPEND keeps it whole beside httpd's lines. */
    line = apr_pstrcat(cli->pool, text, "\n", NULL);
    free(text);
    do
        n = write(cli->audit_fd, line, len + 1);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)(len + 1))
        fprintf(cli->err, "wsguardctl: writing the audit line to %s failed: %s\n",
                cli->audit_path, n < 0 ? strerror(errno) : "short write");
}
