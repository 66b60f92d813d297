# guestagent %preun ($1: 0 erase, 1+ upgrade): on erase stop and disable.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop guestagent.service >/dev/null 2>&1 || :
    fi
    systemctl --no-reload disable guestagent.service >/dev/null 2>&1 || :
fi
exit 0
