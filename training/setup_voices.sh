#!/bin/sh
# Training-machine setup for the many-voice data (training/voices.py, synth_many.py) and for
# `npm run eval -- --real`'s pocketsphinx column. Not part of a user's setup (npm start never runs it).
# MBROLA, RHVoice, SVOX pico and some festival voices are in Debian's contrib and non-free
# sections: this adds an apt sources entry of its own for them (bookworm; run as root).
set -eu
SUITE=${SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
LIST=/etc/apt/sources.list.d/voxfleet-training-contrib.sources
if [ ! -f "$LIST" ]; then
  cat > "$LIST" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE $SUITE-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  python3-torch python3-torchaudio python3-onnx libopenblas0-pthread fortune-mod fortunes fortunes-min \
  espeak-ng mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 \
  rhvoice rhvoice-english flite \
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-us1 festvox-us2 festvox-us3 \
  libttspico-utils sox ffmpeg \
  pocketsphinx pocketsphinx-en-us
# festvox-rablpc16k and festvox-en1 are left out: they speak through festlex-oald (non-commercial only).
/usr/bin/python3 "$(dirname "$0")/voices.py" --check
