# Shared by the httpd benchmarks (sourced, not run): the build checks, a work directory with a
# 4 KB index.html owned by httpd's user, and a standalone httpd config per server.
# Needs: top (the repo), build (the build dir), work_prefix (mktemp template under /tmp).

[ -f "$build/mod_wsguard.so" ] || { echo "bench: build first (make)" >&2; exit 1; }
work=$(mktemp -d "/tmp/$work_prefix.XXXXXX")
mkdir -p "$work/htdocs" "$work/run" "$work/logs"
head -c 4096 /dev/zero | tr '\0' 'x' > "$work/htdocs/index.html"
chown -R www-data:www-data "$work"

# The module with the shipped rules, loopback clients tracked (the default allows 127.0.0.1).
guard_directives() {  # STATE-SUBDIR
    printf 'LoadModule wsguard_module %s/mod_wsguard.so\nWSGuardRules %s/rules\nWSGuardStateDir %s/%s\nWSGuardAllow none\n' \
        "$build" "$top" "$work" "$1"
}

bench_conf() {  # NAME PORT SERVER-DIRECTIVES (MPM and the rest)
    cat > "$work/$1.conf" <<CONF
ServerRoot "$work"
ServerName bench.localhost
Listen 127.0.0.1:$2
PidFile $work/run/$1.pid
DefaultRuntimeDir $work/run
ErrorLog $work/logs/$1-error.log
LogLevel warn
User www-data
Group www-data
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
DocumentRoot $work/htdocs
$3
CONF
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
