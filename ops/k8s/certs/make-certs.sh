#!/usr/bin/env bash
# Makes, with openssl, every certificate and key the base mounts, for a
# cluster without cert-manager: a platform CA, one certificate per program
# (URI SAN spiffe://kitshop/<program>, server and client use), etcd's
# (the registry's identity plus the names members dial each other by) and
# the users service's token signing key. Then, with -n NAMESPACE, creates
# the Secrets in that namespace with kubectl.
#
#   bash ops/k8s/certs/make-certs.sh DIR                 # files only
#   bash ops/k8s/certs/make-certs.sh DIR -n kitshop      # and the Secrets
#
# Run it again to renew: the certificates are made anew, while an existing
# CA (ca.crt, ca.key) and token key (users-jwt.key) in DIR are kept, so
# peers keep trusting each other and issued tokens stay valid. Keep ca.key
# somewhere safer than the cluster. KITSHOP_CERT_DAYS sets the
# certificates' lifetime (90).
set -euo pipefail

usage() { echo "usage: $0 DIR [-n NAMESPACE]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
dir=$1
shift
namespace=""
if [[ $# -gt 0 ]]; then
	[[ $# -eq 2 && $1 == -n ]] || usage
	namespace=$2
fi
days=${KITSHOP_CERT_DAYS:-90}
programs=(users products orders payments gateway)

mkdir -p "$dir"
cd "$dir"
umask 077

if [[ ! -e ca.key ]]; then
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout ca.key -out ca.crt -days 3650 -subj "/CN=kitshop platform CA" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	echo "made    ca.crt (new CA)"
fi

# issue NAME CN SANS: NAME.crt and NAME.key (PKCS#8), signed by the CA.
issue() {
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
		-days "$days" -out "$1.crt" -extfile <(printf '%s\n' \
			"subjectAltName=$3" \
			"basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=serverAuth,clientAuth") 2>/dev/null
	rm -f "$1.csr"
	echo "made    $1.crt ($3)"
}

for p in "${programs[@]}"; do
	issue "$p" "$p" "URI:spiffe://kitshop/$p,DNS:$p,DNS:localhost"
done
# CN=etcd is what ETCD_PEER_CERT_ALLOWED_CN admits as a peer.
issue etcd etcd "URI:spiffe://kitshop/registry,DNS:etcd-0.etcd,DNS:etcd-1.etcd,DNS:etcd-2.etcd,DNS:etcd-client,DNS:localhost,IP:127.0.0.1"

if [[ ! -e users-jwt.key ]]; then
	openssl genpkey -algorithm ed25519 -out users-jwt.key
	echo "made    users-jwt.key (token signing key)"
fi

[[ -n $namespace ]] || exit 0
secret() { # NAME ARGS...: create or replace a Secret
	local name=$1
	shift
	kubectl -n "$namespace" create secret generic "$name" "$@" --dry-run=client -o yaml | kubectl apply -f -
}
for p in "${programs[@]}"; do
	secret "$p-tls" --from-file=ca.crt --from-file=tls.crt="$p.crt" --from-file=tls.key="$p.key"
done
secret etcd-tls --from-file=ca.crt --from-file=tls.crt=etcd.crt --from-file=tls.key=etcd.key
secret users-jwt --from-file=tls.key=users-jwt.key
