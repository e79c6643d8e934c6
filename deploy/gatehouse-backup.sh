#!/bin/sh
# Nightly online backup (run by gatehouse-backup.timer): one dated directory per night under
# $BACKUP_ROOT, the oldest removed beyond $KEEP. Uses the bootstrap admin's credentials file.
set -eu
BACKUP_ROOT=${BACKUP_ROOT:-/var/backups/gatehouse}
KEEP=${KEEP:-14}
SERVER=${GATEHOUSE_SERVER:-http://127.0.0.1:8080}
CREDENTIALS=${CREDENTIALS:-/var/lib/gatehouse/admin.credentials}
dest="$BACKUP_ROOT/$(date -u +%Y-%m-%dT%H%M%SZ)"
mkdir -p "$BACKUP_ROOT"
gatehouse --server "$SERVER" --credentials "$CREDENTIALS" backup --to "$dest"
# Keep the newest $KEEP backups.
ls -1d "$BACKUP_ROOT"/20* 2>/dev/null | sort | head -n "-$KEEP" | while read -r old; do rm -rf -- "$old"; done
