#!/bin/sh
# Installs the Debian 12 packages mod_wsguard needs to build, test, package and demo (as root, with
# apt): debhelper, dpkg-dev, fakeroot and lintian build and check the .deb (dh_apache2 comes with
# apache2-dev), bubblewrap sandboxes the `make install DESTDIR=` test, chromium (headless) renders
# the status page in test_status_page.py and python3-html5lib checks that it is valid HTML;
# python3-jsonschema validates STIX reports against the OASIS schemas in tests/stix-schemas.
# Does nothing when they are all present already.
set -eu
PKGS="build-essential autoconf automake pkg-config apache2 apache2-dev libpcre2-dev liblmdb-dev
lmdb-utils libjansson-dev zlib1g-dev libcmocka-dev python3 python3-pytest curl nftables ipset iptables
iproute2 wrk clang libclang-rt-14-dev
debhelper dpkg-dev fakeroot lintian man-db bubblewrap
libcurl4-openssl-dev crowdsec
chromium python3-html5lib fonts-dejavu-core python3-jsonschema"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: need root to apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The apache2 package tries to start a system httpd on :80; we never use it.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d 2>/dev/null && chmod +x /usr/sbin/policy-rc.d || true
# crowdsec (the LAPI tests' real Local API): its postinst registers with CrowdSec's online API
# unless this file exists and holds only a comment (README.Debian); offline, that would fail the
# install. Written before apt-get install, so the LAPI runs offline only.
if echo "$missing" | grep -qw crowdsec && [ ! -s /etc/crowdsec/online_api_credentials.yaml ]; then
    mkdir -p /etc/crowdsec
    echo '# no online API: mod_wsguard tests run the Local API offline' > /etc/crowdsec/online_api_credentials.yaml
fi
apt-get install -y -q --no-install-recommends $missing
rm -f /usr/sbin/policy-rc.d
