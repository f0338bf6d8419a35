#!/usr/bin/env bash
# Packs this machine's espeak-ng (binary, the shared libraries it resolves to
# except glibc's, and the English data) into DIR, so that synth.py can run on a
# machine without espeak-ng (the lent GPU machine): put DIR/bin on PATH.
# Usage: training/espeak_bundle.sh DIR
set -euo pipefail
dir=${1:?usage: espeak_bundle.sh DIR}
rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/lib"
cp "$(command -v espeak-ng)" "$dir/lib/espeak-ng.bin"
ldd "$(command -v espeak-ng)" | awk '/=> \// {print $3}' | while read -r so; do
  case "$(basename "$so")" in libc.so*|libm.so*|libpthread.so*|libdl.so*|ld-linux*) ;; *) cp -L "$so" "$dir/lib/" ;; esac
done
data=/usr/lib/x86_64-linux-gnu/espeak-ng-data
mkdir -p "$dir/espeak-ng-data"
cp -r "$data"/{phondata,phonindex,phontab,intonations,en_dict,voices,lang} "$dir/espeak-ng-data/"
cat > "$dir/bin/espeak-ng" <<'SH'
#!/bin/sh
d=$(dirname "$(readlink -f "$0")")/..
LD_LIBRARY_PATH="$d/lib" ESPEAK_DATA_PATH="$d" exec "$d/lib/espeak-ng.bin" "$@"
SH
chmod +x "$dir/bin/espeak-ng"
du -sh "$dir"
