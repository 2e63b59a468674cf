#!/usr/bin/env bash
# deploy/cluster.sh — run the compose cluster of deploy/compose.yaml.
#
#   deploy/cluster.sh images        build strata:dev and strata-versitygw:dev (static binaries, FROM scratch)
#   deploy/cluster.sh env           write the env file (cluster key, admin credential, backend keys) if missing
#   deploy/cluster.sh up            images + env + start + wait for /ready + add the S3 backend + print endpoints
#   deploy/cluster.sh down          stop and remove containers, networks and volumes (KEEP=1 keeps volumes)
#   deploy/cluster.sh logs          docker-compose logs of every service
#   deploy/cluster.sh compose ARGS  docker-compose with this cluster's project, file and env file
#   deploy/cluster.sh isolate SVC   disconnect a service's container from the cluster network
#   deploy/cluster.sh heal SVC      connect it again (with its service name as DNS alias)
#
# Settings (environment; a variable set by the caller wins over the env file):
#   COMPOSE_PROJECT_NAME  project name (default strata): several clusters can run side by side
#   STRATA_ENV_FILE       env file (default deploy/.env, gitignored)
#   STRATAn_S3_PORT, STRATAn_ADMIN_PORT  host ports of node n (defaults 9000/9001, 9010/9011, 9020/9021, 9030/9031)
#   STRATA_SKIP_IMAGES=1  do not build the images (already built)
#   STRATA_UP_TIMEOUT     seconds `up` waits for the nodes to be ready (default 180)
#   VERSITYGW             the static versitygw binary (default: the `make tools` cache)
#   KEEP=1                `down` keeps the volumes
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY=$ROOT/deploy
COMPOSE_FILE=$DEPLOY/compose.yaml
PROJECT=${COMPOSE_PROJECT_NAME:-strata}
ENV_FILE=${STRATA_ENV_FILE:-$DEPLOY/.env}
BUILD=$ROOT/build/docker
HOST_STRATA=$BUILD/strata/strata
TOOLS_CACHE=${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strata/tools}
VERSITYGW=${VERSITYGW:-${STRATA_VERSITYGW:-$TOOLS_CACHE/versitygw-v1.8.0/versitygw}}
STRATA_IMAGE=${STRATA_IMAGE:-strata:dev}
STRATA_VERSITYGW_IMAGE=${STRATA_VERSITYGW_IMAGE:-strata-versitygw:dev}
BACKEND_NAME=s3
BACKEND_ENDPOINT=http://s3:7070

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo ">> $*" >&2; }

# setting NAME DEFAULT: the caller's environment, else the env file, else DEFAULT.
setting() {
	local name=$1 def=$2 line
	if [[ -n ${!name:-} ]]; then
		printf '%s' "${!name}"
		return
	fi
	if [[ -f $ENV_FILE ]] && line=$(grep -E "^${name}=" "$ENV_FILE" | tail -n1); then
		printf '%s' "${line#*=}"
		return
	fi
	printf '%s' "$def"
}

s3_port() { setting "STRATA$1_S3_PORT" "$(( 9000 + ($1 - 1) * 10 ))"; }
admin_port() { setting "STRATA$1_ADMIN_PORT" "$(( 9001 + ($1 - 1) * 10 ))"; }

dc() {
	docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" --env-file "$ENV_FILE" "$@"
}

# build_images prepares two build contexts (binary, CA bundle, rootfs with
# directories owned by the runtime user) and builds both images. A lock
# keeps concurrent callers (parallel test packages) from sharing a
# half-written context.
build_images() {
	command -v docker >/dev/null || die "docker not found"
	[[ -x $VERSITYGW ]] || die "versitygw binary not found at $VERSITYGW: run \`make tools\`"
	local ca=/etc/ssl/certs/ca-certificates.crt
	[[ -r $ca ]] || die "no CA bundle at $ca (Debian: apt-get install ca-certificates)"
	mkdir -p "$BUILD"
	exec 9>"$BUILD/.lock"
	flock 9
	log "building static strata"
	local version
	version=$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)
	rm -rf "$BUILD/strata" "$BUILD/versitygw"
	mkdir -p "$BUILD/strata/rootfs/data" "$BUILD/strata/rootfs/tmp" \
		"$BUILD/versitygw/rootfs/data" "$BUILD/versitygw/rootfs/tmp"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" \
		-o "$BUILD/strata/strata" ./cmd/strata)
	cp "$ca" "$BUILD/strata/ca-certificates.crt"
	cp "$VERSITYGW" "$BUILD/versitygw/versitygw"
	# The versitygw image carries strata only as its healthcheck probe.
	cp "$BUILD/strata/strata" "$BUILD/versitygw/strata"
	log "building $STRATA_IMAGE and $STRATA_VERSITYGW_IMAGE"
	docker_build "$DEPLOY/Dockerfile" "$STRATA_IMAGE" "$BUILD/strata"
	docker_build "$DEPLOY/versitygw.Dockerfile" "$STRATA_VERSITYGW_IMAGE" "$BUILD/versitygw"
	flock -u 9
}

# docker_build DOCKERFILE TAG CONTEXT. The classic builder: it needs no
# buildx plugin, and these images use nothing BuildKit adds. Its
# deprecation notice is dropped; real errors still show.
docker_build() {
	local out
	if ! out=$(DOCKER_BUILDKIT=0 docker build -q -f "$1" -t "$2" "$3" 2>&1); then
		echo "$out" >&2
		die "docker build $2 failed"
	fi
}

# random_chars N: N characters from [A-Z0-9].
random_chars() { LC_ALL=C tr -dc 'A-Z0-9' </dev/urandom | head -c "$1"; }
# random_secret: 40 URL-safe characters (30 random bytes).
random_secret() { head -c 30 /dev/urandom | base64 | tr '+/' '-_'; }

write_env() {
	if [[ -f $ENV_FILE ]]; then
		return
	fi
	log "writing $ENV_FILE (new cluster key and credentials)"
	local tmp
	tmp=$(mktemp "$ENV_FILE.XXXXXX")
	chmod 600 "$tmp"
	{
		echo "# Generated by deploy/cluster.sh; keep it secret. Every node needs the same STRATA_CLUSTER_KEY."
		echo "STRATA_CLUSTER_KEY=$(head -c 32 /dev/urandom | base64)"
		echo "STRATA_ADMIN_ACCESS_KEY=SK$(random_chars 18)"
		echo "STRATA_ADMIN_SECRET_KEY=$(random_secret)"
		echo "S3_ACCESS_KEY=VG$(random_chars 18)"
		echo "S3_SECRET_KEY=$(random_secret)"
	} >"$tmp"
	mv "$tmp" "$ENV_FILE"
}

host_strata() {
	local bin=${STRATA_BINARY:-$HOST_STRATA}
	[[ -x $bin ]] || die "no strata binary at $bin: run \`deploy/cluster.sh images\` (or set STRATA_BINARY)"
	"$bin" "$@"
}

# admin ARGS: `strata admin ARGS` against node 1 with the admin credential.
admin() {
	STRATA_ADMIN_URL="http://127.0.0.1:$(admin_port 1)" \
		STRATA_ACCESS_KEY=$(setting STRATA_ADMIN_ACCESS_KEY "") \
		STRATA_SECRET_KEY=$(setting STRATA_ADMIN_SECRET_KEY "") \
		host_strata admin "$@"
}

# wait_ready waits until every node's /ready answers 200 and the backend is
# healthy, or fails with the state of the cluster.
wait_ready() {
	local timeout=${STRATA_UP_TIMEOUT:-180} deadline n pending s3id s3health
	deadline=$(( $(date +%s) + timeout ))
	while :; do
		pending=""
		for n in 1 2 3; do
			host_strata health --timeout 2s --url "http://127.0.0.1:$(admin_port "$n")/ready" >/dev/null 2>&1 ||
				pending+=" strata$n"
		done
		s3id=$(dc ps -q s3)
		s3health=$(docker inspect -f '{{.State.Health.Status}}' "$s3id" 2>/dev/null || echo missing)
		[[ $s3health == healthy ]] || pending+=" s3($s3health)"
		[[ -z $pending ]] && return 0
		if (( $(date +%s) >= deadline )); then
			dc ps >&2 || true
			dc logs --tail 50 >&2 || true
			die "not ready after ${timeout}s:$pending"
		fi
		sleep 1
	done
}

# add_backend adds the versitygw server as backend "s3" (once) and makes its
# virtual region the default one.
add_backend() {
	if admin backend list | awk -v n="$BACKEND_NAME" 'NR > 1 && $1 == n { found = 1 } END { exit !found }'; then
		log "backend $BACKEND_NAME already added"
	else
		log "adding backend $BACKEND_NAME ($BACKEND_ENDPOINT)"
		STRATA_BACKEND_SECRET_KEY=$(setting S3_SECRET_KEY "") admin backend add --name "$BACKEND_NAME" --type s3 \
			--endpoint "$BACKEND_ENDPOINT" --region us-east-1 --access-key "$(setting S3_ACCESS_KEY "")" --path-style >&2
	fi
	local region
	region=$(admin region list | awk -v n="$BACKEND_NAME" 'NR > 1 && $3 ~ "(^|,)" n "/" { print $1; exit }')
	[[ -n $region ]] || die "no virtual region backed by $BACKEND_NAME"
	admin region default "$region" >&2
}

print_endpoints() {
	local n
	echo "strata cluster \"$PROJECT\" is up. S3 endpoints:"
	for n in 1 2 3; do
		echo "  strata$n: http://127.0.0.1:$(s3_port "$n")   (admin http://127.0.0.1:$(admin_port "$n"))"
	done
	echo "Admin credential (also in $ENV_FILE):"
	echo "  export AWS_ACCESS_KEY_ID=$(setting STRATA_ADMIN_ACCESS_KEY "") AWS_SECRET_ACCESS_KEY=$(setting STRATA_ADMIN_SECRET_KEY "") AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$(s3_port 1)"
	echo "  export STRATA_ADMIN_URL=http://127.0.0.1:$(admin_port 1) STRATA_ACCESS_KEY=\$AWS_ACCESS_KEY_ID STRATA_SECRET_KEY=\$AWS_SECRET_ACCESS_KEY"
}

# container SVC: the container id of a running service.
container() {
	local id
	id=$(dc ps -q "$1")
	[[ -n $id ]] || die "service $1 has no container"
	printf '%s' "$id"
}

isolate() {
	local id
	id=$(container "$1")
	docker network disconnect "${PROJECT}_cluster" "$id"
}

# heal reconnects with the service name as DNS alias, as compose does, so
# the other nodes find it again under its name.
heal() {
	local id
	id=$(container "$1")
	docker network connect --alias "$1" "${PROJECT}_cluster" "$id"
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	images) build_images ;;
	env) write_env ;;
	up)
		command -v docker-compose >/dev/null || die "docker-compose not found"
		[[ ${STRATA_SKIP_IMAGES:-} == 1 ]] || build_images
		write_env
		log "starting project $PROJECT"
		dc up -d --remove-orphans >&2
		wait_ready
		add_backend
		print_endpoints
		;;
	down)
		[[ -f $ENV_FILE ]] || die "no env file $ENV_FILE"
		if [[ ${KEEP:-} == 1 ]]; then
			dc --profile extra down --remove-orphans
		else
			dc --profile extra down -v --remove-orphans
		fi
		;;
	logs) dc --profile extra logs --no-color --timestamps "$@" ;;
	compose) dc "$@" ;;
	isolate) [[ $# == 1 ]] || die "usage: isolate SERVICE"; isolate "$1" ;;
	heal) [[ $# == 1 ]] || die "usage: heal SERVICE"; heal "$1" ;;
	*) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
}

main "$@"
