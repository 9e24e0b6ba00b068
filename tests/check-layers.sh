#!/bin/sh
# The portable core (mod_wsguard/wsg_*) must never include httpd headers; the Makefile already
# compiles it without the httpd include path, this names the offender plainly.
bad=$(grep -lE '#\s*include\s*[<"](httpd|http_[a-z_]+|ap_[a-z_]+|util_[a-z_]+|mod_[a-z_]+)\.h[">]' mod_wsguard/wsg_*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
  echo "check-layers: httpd header included by core file(s): $bad" >&2
  exit 1
fi
echo "check-layers: core is free of httpd headers"
