#!/usr/bin/env bash
# Build Typervisor's default Linux guest from Debian packages only:
#   images/linux/Image.gz            gzip -9n of the riscv64 kernel Image (linux-source-6.1)
#   images/linux/initramfs.cpio.gz   busybox (Debian's busybox source, static) + images/linux/initramfs/
# and, not committed, build/linux/Image (the raw Image, for QEMU 7.2 which cannot boot Image.gz).
#
# Usage: images/linux/build.sh [all|kernel|initramfs]     (default: all)
# Environment:
#   JOBS=N            parallel make jobs (default: nproc)
#   BUILD_DIR=DIR     work directory (default: <repo>/build/linux)
#   SKIP_APT=1        do not run apt-get; only check that the packages are installed
#   OUT_DIR=DIR       where Image.gz and initramfs.cpio.gz go (default: images/linux)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/linux}"
OUT_DIR="${OUT_DIR:-$HERE}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
TARGET="${1:-all}"

KERNEL_PKG=linux-source-6.1
KERNEL_TARBALL=/usr/src/linux-source-6.1.tar.xz
CROSS=riscv64-linux-gnu-
PACKAGES=(
	"$KERNEL_PKG" gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross
	gcc libc6-dev make bc bison flex libssl-dev libelf-dev perl python3
	cpio xz-utils gzip bzip2 dpkg-dev file
)

log() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
	printf '\nbuild.sh: error: %s\n' "$*" >&2
	exit 1
}

case "$TARGET" in
all | kernel | initramfs) ;;
*) die "unknown target '$TARGET' (expected all, kernel or initramfs)" ;;
esac

start_time=$(date +%s)
mkdir -p "$BUILD_DIR" "$OUT_DIR"

# ------------------------------------------------------------------------------------------
# 1. Debian packages
# ------------------------------------------------------------------------------------------
missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
	done
}

log "Checking Debian packages"
command -v dpkg-query >/dev/null || die "dpkg-query not found: this script needs a Debian (12 'bookworm') system"
missing="$(missing_packages)"
if [ -n "$missing" ]; then
	if [ "${SKIP_APT:-0}" = 1 ] || [ "$(id -u)" != 0 ]; then
		die "missing Debian packages: $missing
       install them with: apt-get update && apt-get install -y --no-install-recommends $missing"
	fi
	info "installing: $missing"
	apt-get update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
	missing="$(missing_packages)"
	[ -z "$missing" ] || die "apt-get did not install: $missing"
else
	info "all present: ${PACKAGES[*]}"
fi
for tool in "${CROSS}gcc" "${CROSS}ld" "${CROSS}strip" make bison flex bc cpio gzip xz perl dpkg-source; do
	command -v "$tool" >/dev/null || die "'$tool' not found in PATH even though the packages are installed"
done

# Builds are reproducible: fixed user, host and timestamps (see README.md).
export KBUILD_BUILD_USER=typervisor KBUILD_BUILD_HOST=typervisor KBUILD_BUILD_VERSION=1
export KCONFIG_NOTIMESTAMP=1 LC_ALL=C TZ=UTC
umask 022

changelog_epoch() { # $1: a Debian changelog (plain or .gz); prints its newest entry's time
	local f="$1"
	[ -e "$f" ] || return 1
	dpkg-parsechangelog -l "$f" -S Timestamp 2>/dev/null
}

# ------------------------------------------------------------------------------------------
# 2. Kernel
# ------------------------------------------------------------------------------------------
build_kernel() {
	[ -f "$KERNEL_TARBALL" ] || die "$KERNEL_TARBALL not found (package $KERNEL_PKG)"
	local kver src obj epoch
	kver="$(dpkg-query -W -f='${Version}' "$KERNEL_PKG")"
	src="$BUILD_DIR/linux-source-6.1"
	obj="$BUILD_DIR/kernel"

	log "Kernel: $KERNEL_PKG $kver"
	if [ "$(cat "$src/.typervisor-stamp" 2>/dev/null)" != "$kver" ]; then
		info "extracting $KERNEL_TARBALL into $src"
		rm -rf "$src" "$obj"
		tar -C "$BUILD_DIR" -xf "$KERNEL_TARBALL"
		[ -f "$src/Makefile" ] || die "$KERNEL_TARBALL did not contain linux-source-6.1/"
		echo "$kver" >"$src/.typervisor-stamp"
	else
		info "using extracted source in $src"
	fi

	epoch="$(changelog_epoch "/usr/share/doc/$KERNEL_PKG/changelog.Debian.gz" || true)"
	epoch="${epoch:-0}"
	export SOURCE_DATE_EPOCH="$epoch"
	KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$epoch" '+%a %b %e %H:%M:%S UTC %Y')"
	export KBUILD_BUILD_TIMESTAMP
	info "KBUILD_BUILD_TIMESTAMP=$KBUILD_BUILD_TIMESTAMP (from the package's changelog)"

	local kmake=(make -C "$src" O="$obj" ARCH=riscv CROSS_COMPILE="$CROSS" -j"$JOBS")
	mkdir -p "$obj"

	log "Kernel: tinyconfig + images/linux/kernel.config"
	"${kmake[@]}" -s tinyconfig
	(cd "$src" && ARCH=riscv scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$HERE/kernel.config") >"$obj/merge_config.log" ||
		die "merge_config.sh failed, see $obj/merge_config.log"
	"${kmake[@]}" -s olddefconfig

	# Every line of the fragment must have survived olddefconfig (a dependency may be missing).
	local line sym bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			grep -qxF "$line" "$obj/.config" || {
				printf '    fragment wants %s, got: %s\n' "$line" "$(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo 'absent')" >&2
				bad=1
			}
			;;
		"# CONFIG_"*" is not set")
			sym="${line#\# }"
			sym="${sym%% *}"
			if grep -q "^$sym=" "$obj/.config"; then
				printf '    fragment wants %s off, got: %s\n' "$sym" "$(grep "^$sym=" "$obj/.config")" >&2
				bad=1
			fi
			;;
		esac
	done <"$HERE/kernel.config"
	[ "$bad" = 0 ] || die "kernel.config does not apply cleanly to $KERNEL_PKG $kver (see above)"
	info "all $(grep -cE '^(CONFIG_|# CONFIG_.* is not set)' "$HERE/kernel.config") fragment lines applied"

	log "Kernel: make Image (-j$JOBS; this takes a while)"
	"${kmake[@]}" Image
	local image="$obj/arch/riscv/boot/Image"
	[ -f "$image" ] || die "kernel build produced no $image"

	cp "$image" "$BUILD_DIR/Image"
	cp "$obj/.config" "$BUILD_DIR/kernel.config.full"
	gzip -9n <"$image" >"$OUT_DIR/Image.gz.tmp"
	mv "$OUT_DIR/Image.gz.tmp" "$OUT_DIR/Image.gz"
	info "kernel $(cat "$obj/include/config/kernel.release"), Image $(stat -c %s "$image") bytes"
}

# ------------------------------------------------------------------------------------------
# 3. Busybox from Debian's source package
# ------------------------------------------------------------------------------------------

# Write deb-src entries derived from the machine's own deb entries for this release
# (deb822 *.sources and one-line *.list formats) to stdout.
derive_deb_src() {
	local codename="$1" f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v cn="$codename" '
			BEGIN { RS = ""; ORS = "\n\n" }
			{
				deb = 0; ok = 0; out = ""
				n = split($0, L, "\n")
				for (i = 1; i <= n; i++) {
					line = L[i]
					if (line ~ /^Types:/) {
						if (line ~ /[[:space:]]deb([[:space:]]|$)/) deb = 1
						line = "Types: deb-src"
					}
					if (line ~ /^Suites:/) {
						m = split(substr(line, 8), S, /[[:space:]]+/)
						for (j = 1; j <= m; j++) if (S[j] == cn || index(S[j], cn "-") == 1) ok = 1
					}
					if (line ~ /^Enabled:[[:space:]]*[Nn]o/) deb = 0
					out = out line "\n"
				}
				if (deb && ok) printf "%s\n", out
			}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		awk -v cn="$codename" '
			$1 == "deb" {
				k = 2
				if ($2 ~ /^\[/) { while (k <= NF && $k !~ /\]$/) k++; k++ }
				suite = $(k + 1)
				if (suite == cn || index(suite, cn "-") == 1) { $1 = "deb-src"; print }
			}' "$f"
	done
}

fetch_busybox_source() { # prints the extracted source directory
	local aptdir="$BUILD_DIR/apt" srcdir="$BUILD_DIR/busybox-src" codename
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	[ -n "$codename" ] || die "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release)"

	rm -rf "$aptdir"
	mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
	: >"$aptdir/sources.list"
	derive_deb_src "$codename" >"$aptdir/sources.list.d/deb-src.sources.tmp"
	# Keep both formats apt understands: deb822 stanzas and one-line entries.
	grep -v '^deb-src ' "$aptdir/sources.list.d/deb-src.sources.tmp" >"$aptdir/sources.list.d/deb-src.sources" || true
	grep '^deb-src ' "$aptdir/sources.list.d/deb-src.sources.tmp" >"$aptdir/sources.list" || true
	rm "$aptdir/sources.list.d/deb-src.sources.tmp"
	if ! grep -q . "$aptdir/sources.list.d/deb-src.sources" "$aptdir/sources.list" 2>/dev/null; then
		die "found no 'deb' entries for '$codename' in /etc/apt/sources.list{,.d/*} to derive deb-src entries from"
	fi
	local apt_opts=(
		-o "Dir::Etc::SourceList=$aptdir/sources.list"
		-o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
		-o "Dir::State::Lists=$aptdir/lists"
		-o "Dir::Cache=$aptdir/cache"
		-o "Dir::Cache::pkgcache="
		-o "Dir::Cache::srcpkgcache="
		-o "APT::Sandbox::User=root"
	)
	info "apt-get update (deb-src entries derived from this machine's apt sources, in $aptdir)" >&2
	apt-get "${apt_opts[@]}" update >"$BUILD_DIR/apt-src.log" 2>&1 ||
		die "apt-get update for deb-src failed, see $BUILD_DIR/apt-src.log"
	rm -rf "$srcdir"
	mkdir -p "$srcdir"
	info "apt-get source --download-only busybox" >&2
	(cd "$srcdir" && apt-get "${apt_opts[@]}" source --download-only busybox) >>"$BUILD_DIR/apt-src.log" 2>&1 ||
		die "apt-get source busybox failed, see $BUILD_DIR/apt-src.log"
	local dsc
	dsc="$(ls "$srcdir"/busybox_*.dsc 2>/dev/null | head -n 1)"
	[ -n "$dsc" ] || die "apt-get source downloaded no busybox_*.dsc"
	(cd "$srcdir" && dpkg-source --no-check -x "$(basename "$dsc")" busybox) >>"$BUILD_DIR/apt-src.log" 2>&1 ||
		die "dpkg-source -x failed, see $BUILD_DIR/apt-src.log"
	echo "$srcdir/busybox"
}

build_busybox() {
	local src bbver epoch
	log "Busybox: Debian source package"
	if [ -f "$BUILD_DIR/busybox-src/busybox/debian/changelog" ] && [ "${REFETCH:-0}" != 1 ]; then
		src="$BUILD_DIR/busybox-src/busybox"
		info "using $src (REFETCH=1 to download again)"
	else
		src="$(fetch_busybox_source)"
	fi
	bbver="$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)"
	epoch="$(changelog_epoch "$src/debian/changelog")"
	info "busybox $bbver"

	local obj="$BUILD_DIR/busybox"
	rm -rf "$obj"
	mkdir -p "$obj"
	# Debian's own configuration of its busybox-static package, then our overrides.
	[ -f "$src/debian/config/pkg/static" ] || die "$src/debian/config/pkg/static not found"
	cat "$src/debian/config/os/linux" "$src/debian/config/pkg/static" >"$obj/.config"
	local line sym
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) sym="${line%%=*}" ;;
		"# CONFIG_"*" is not set") sym="${line#\# }" && sym="${sym%% *}" ;;
		*) continue ;;
		esac
		sed -i -e "/^$sym=/d" -e "/^# $sym is not set\$/d" "$obj/.config"
		echo "$line" >>"$obj/.config"
	done <"$HERE/busybox.config"

	local bbmake=(make -C "$src" O="$obj" CROSS_COMPILE="$CROSS" ARCH=riscv
		BB_EXTRA_VERSION="Debian $bbver" SOURCE_DATE_EPOCH="$epoch")
	log "Busybox: configure and build (static, ${CROSS}gcc)"
	{ yes '' || true; } | "${bbmake[@]}" oldconfig >"$obj/oldconfig.log" 2>&1 || die "busybox oldconfig failed, see $obj/oldconfig.log"
	grep -qx 'CONFIG_STATIC=y' "$obj/.config" || die "busybox .config lost CONFIG_STATIC=y"
	"${bbmake[@]}" -j"$JOBS" busybox
	"${bbmake[@]}" busybox.links >/dev/null
	[ -f "$obj/busybox" ] || die "busybox build produced no $obj/busybox"
	file "$obj/busybox" | grep -q 'statically linked' || die "$obj/busybox is not statically linked: $(file "$obj/busybox")"
	file "$obj/busybox" | grep -q 'RISC-V' || die "$obj/busybox is not a RISC-V binary: $(file "$obj/busybox")"
	info "busybox $(stat -c %s "$obj/busybox") bytes, $(wc -l <"$obj/busybox.links") applets"
}

# ------------------------------------------------------------------------------------------
# 4. Initramfs
# ------------------------------------------------------------------------------------------
build_initramfs() {
	build_busybox
	local obj="$BUILD_DIR/busybox" root="$BUILD_DIR/initramfs-root"
	log "Initramfs: assembling $root"
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt,var,home}
	ln -s ../run "$root/var/run"
	install -m 0755 "$obj/busybox" "$root/bin/busybox"
	local link rel dir
	while IFS= read -r link; do
		link="${link#/}"
		[ "$link" = bin/busybox ] && continue
		dir="$(dirname "$link")"
		mkdir -p "$root/$dir"
		# relative link to /bin/busybox
		case "$dir" in
		.) rel=bin/busybox ;;
		bin) rel=busybox ;;
		sbin) rel=../bin/busybox ;;
		usr/bin | usr/sbin) rel=../../bin/busybox ;;
		*) die "unexpected busybox link location /$link" ;;
		esac
		ln -sf "$rel" "$root/$link"
	done <"$obj/busybox.links"
	cp -R "$HERE/initramfs/." "$root/"
	# Normalise modes (git keeps only the executable bit) and times.
	chmod 1777 "$root/tmp"
	chmod 0700 "$root/root"
	find "$root" -type f ! -perm -u+x -exec chmod 0644 {} +
	find "$root" -type f -perm -u+x -exec chmod 0755 {} +
	find "$root" -exec touch -h -d @0 {} +
	# The kernel's built-in initramfs already provides /dev/console, so no device node is needed.

	log "Initramfs: cpio (newc, sorted, --reproducible, owner 0:0) | gzip -9n"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 --quiet) |
		gzip -9n >"$OUT_DIR/initramfs.cpio.gz.tmp"
	mv "$OUT_DIR/initramfs.cpio.gz.tmp" "$OUT_DIR/initramfs.cpio.gz"
}

case "$TARGET" in
all)
	build_kernel
	build_initramfs
	;;
kernel) build_kernel ;;
initramfs) build_initramfs ;;
esac

log "Done in $(($(date +%s) - start_time)) s"
for f in "$OUT_DIR/Image.gz" "$OUT_DIR/initramfs.cpio.gz" "$BUILD_DIR/Image"; do
	[ -f "$f" ] && info "$(stat -c %s "$f") bytes  $(sha256sum "$f" | cut -d ' ' -f 1)  $f"
done
