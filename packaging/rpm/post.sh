# guestagent %post ($1: 1 install, 2+ upgrade): enable on first install
# (systemctl enable works without a running systemd), then permissions,
# MariaDB account and start/restart only once the config is complete.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload enable guestagent.service >/dev/null 2>&1 || :
    /usr/lib/guestagent/maintainer-helper configure install
else
    /usr/lib/guestagent/maintainer-helper configure upgrade
fi
exit 0
