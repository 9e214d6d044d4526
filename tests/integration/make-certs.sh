#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Makes the test PKI in DIR: a CA, a server certificate for 127.0.0.1/::1/localhost, a client
# certificate, a server certificate from another CA, and one for the wrong name.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0
q() { openssl "$@" 2>/dev/null; }
key() { q genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() {  # name
  key "$1.key"
  q req -x509 -new -key "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$1"
}
cert() {  # name ca subject extensions
  key "$1.key"
  q req -new -key "$1.key" -out "$1.csr" -subj "$3"
  printf '%s\n' "$4" > "$1.ext"
  q x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 365 -extfile "$1.ext"
}
ca ca
ca other-ca
cert server ca "/CN=fake-apiserver" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth"
cert client ca "/O=system:node-proxier/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
cert other-server other-ca "/CN=fake-apiserver" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth"
cert wrong-name ca "/CN=wrong.example" "subjectAltName=DNS:wrong.example
extendedKeyUsage=serverAuth"
touch done
