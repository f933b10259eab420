#!/usr/bin/env bash
# Fetch Debian 13 ("trixie")'s stock riscv64 kernel for boot tests (nothing here is committed).
#
# Uses only apt with a private configuration in build/linux/debian-kernel/apt: a trixie
# riscv64 source derived at run time from this machine's own Debian archive entries (same
# URIs and keyring, suite renamed), so the machine's apt state is left untouched. It downloads
# the package that `linux-image-riscv64` depends on and extracts boot/vmlinux-<version>, which is
# a RISC-V `Image` (PE/EFI header plus the RISC-V Image header), about 30 MB.
#
# Output: build/linux/debian-kernel/vmlinux-<version> and a symlink build/linux/debian-kernel/Image
#
# Usage: images/linux/debian-kernel.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${BUILD_DIR:-$ROOT/build/linux}/debian-kernel"
SUITE="${DEBIAN_SUITE:-trixie}"
META="${DEBIAN_KERNEL_META:-linux-image-riscv64}"

die() {
	printf 'debian-kernel.sh: error: %s\n' "$*" >&2
	exit 1
}
log() { printf '==> %s\n' "$*"; }

for tool in apt-get apt-cache dpkg-deb awk; do
	command -v "$tool" >/dev/null || die "'$tool' not found (this script needs Debian's apt and dpkg)"
done
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[ -n "$codename" ] || die "cannot tell this machine's Debian release (no VERSION_CODENAME in /etc/os-release)"

apt="$WORK/apt"
rm -rf "$apt"
mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$WORK"
: >"$apt/status"
: >"$apt/sources.list"

# Take the machine's Debian entries for "$codename" (and its -updates/-security suites) and
# point them at the same suites of $SUITE, for riscv64.
for f in /etc/apt/sources.list.d/*.sources; do
	[ -e "$f" ] || continue
	awk -v cn="$codename" -v suite="$SUITE" '
		BEGIN { RS = ""; ORS = "\n\n" }
		{
			deb = 0; ok = 0; out = ""
			n = split($0, L, "\n")
			for (i = 1; i <= n; i++) {
				line = L[i]
				if (line ~ /^Types:/) { if (line ~ /[[:space:]]deb([[:space:]]|$)/) deb = 1; line = "Types: deb" }
				else if (line ~ /^Suites:/) {
					m = split(substr(line, 8), S, /[[:space:]]+/)
					sl = ""
					for (j = 1; j <= m; j++) {
						if (S[j] == cn) { ok = 1; sl = sl " " suite }
						else if (S[j] == cn "-updates" || S[j] == cn "-security") { ok = 1; sl = sl " " suite substr(S[j], length(cn) + 1) }
					}
					line = "Suites:" sl
				}
				else if (line ~ /^Architectures:/) continue
				if (line ~ /^Enabled:[[:space:]]*[Nn]o/) deb = 0
				out = out line "\n"
			}
			if (deb && ok) printf "%sArchitectures: riscv64\n\n", out
		}' "$f"
done >"$apt/sources.list.d/$SUITE.sources"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -e "$f" ] || continue
	awk -v cn="$codename" -v suite="$SUITE" '
		$1 == "deb" && $2 !~ /^\[/ && ($3 == cn || $3 == cn "-updates" || $3 == cn "-security") {
			$1 = "deb [arch=riscv64]"; $3 = suite substr($3, length(cn) + 1); print
		}' "$f"
done >"$apt/sources.list"
grep -q . "$apt/sources.list.d/$SUITE.sources" "$apt/sources.list" ||
	die "found no Debian archive entry for '$codename' in /etc/apt/sources.list{,.d/*} to derive a $SUITE source from"

opts=(
	-o "Dir::Etc::SourceList=$apt/sources.list"
	-o "Dir::Etc::SourceParts=$apt/sources.list.d"
	-o "Dir::State::Lists=$apt/lists"
	-o "Dir::State::status=$apt/status"
	-o "Dir::Cache=$apt/cache"
	-o "Dir::Cache::pkgcache="
	-o "Dir::Cache::srcpkgcache="
	-o "APT::Architecture=riscv64"
	-o "APT::Architectures::=riscv64"
	-o "APT::Sandbox::User=root"
	-o "Acquire::http::No-Cache=true"
)
log "apt-get update ($SUITE riscv64, private state in $apt)"
apt_ok=1
if ! apt-get "${opts[@]}" update >"$WORK/apt.log" 2>&1; then
	# One stale index (e.g. a mirror in sync) need not stop us if another suite has the kernel.
	if ls "$apt/lists/"*riscv64_Packages* >/dev/null 2>&1; then
		echo "    warning: some $SUITE indexes failed to download; going on with the others:" >&2
		grep '^E: Failed' "$WORK/apt.log" | sed 's/^/      /' >&2 || true
	else
		apt_ok=0
	fi
fi

rm -f "$WORK"/*.deb
if [ "$apt_ok" = 1 ]; then
	pkg="$(apt-cache "${opts[@]}" depends "$META" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
	[ -n "$pkg" ] || die "apt-cache found no kernel package behind $META in $SUITE riscv64 (see $WORK/apt.log)"
	pkg="${pkg%%:*}"
	log "downloading $pkg"
	(cd "$WORK" && apt-get "${opts[@]}" download "$pkg:riscv64") >>"$WORK/apt.log" 2>&1 ||
		die "apt-get download $pkg failed (see $WORK/apt.log)"
else
	# The mirror serves a riscv64 Packages index that does not match the signed InRelease (seen for
	# weeks while a mirror re-synced). Fall back to that index as served, through apt's own transport
	# (apt-helper), and check the .deb against the SHA256 the index gives. The index itself cannot be
	# checked against the signature, so say so loudly: this kernel is a test input, not an install.
	grep '^E: Failed' "$WORK/apt.log" | sed 's/^/      /' >&2 || true
	uri="$(awk '/^URIs:/ { print $2; exit }' "$apt/sources.list.d/$SUITE.sources")"
	[ -n "$uri" ] || uri="$(awk '{ print $3; exit }' "$apt/sources.list")"
	[ -n "$uri" ] || die "no archive URI in the derived sources"
	echo "    warning: no $SUITE riscv64 index matches its signed InRelease; using the index as served" >&2
	echo "             (the .deb is checked against that index's SHA256, the index is not signature-checked)" >&2
	index="$uri/dists/$SUITE/main/binary-riscv64/Packages.gz"
	log "downloading $index"
	/usr/lib/apt/apt-helper download-file "$index" "$WORK/Packages.gz" >>"$WORK/apt.log" 2>&1 ||
		die "cannot download $index (see $WORK/apt.log)"
	# Prints "Filename SHA256" of the package that $META depends on.
	read -r file sha < <(gzip -dc "$WORK/Packages.gz" | awk -v meta="$META" '
		BEGIN { RS = "" }
		{
			name = ""; deps = ""; fn = ""; sum = ""
			n = split($0, L, "\n")
			for (i = 1; i <= n; i++) {
				if (L[i] ~ /^Package: /) name = substr(L[i], 10)
				else if (L[i] ~ /^Depends: /) deps = substr(L[i], 10)
				else if (L[i] ~ /^Filename: /) fn = substr(L[i], 11)
				else if (L[i] ~ /^SHA256: /) sum = substr(L[i], 9)
			}
			if (name == meta && want == "") { split(deps, D, /[ ,(]+/); want = D[1] }
			F[name] = fn " " sum
		}
		END { if (want != "" && (want in F)) print F[want] }') || true
	[ -n "${file:-}" ] && [ -n "${sha:-}" ] || die "found no kernel package behind $META in $index"
	log "downloading $(basename "$file") (SHA256 $sha)"
	/usr/lib/apt/apt-helper download-file "$uri/$file" "$WORK/$(basename "$file")" "SHA256:$sha" >>"$WORK/apt.log" 2>&1 ||
		die "cannot download $uri/$file or its SHA256 differs from the index (see $WORK/apt.log)"
fi
deb="$(ls "$WORK"/*.deb | head -n 1)"
rm -rf "$WORK/root"
dpkg-deb -x "$deb" "$WORK/root"
vmlinux="$(ls "$WORK"/root/boot/vmlinux-* 2>/dev/null | head -n 1)"
[ -n "$vmlinux" ] || die "$deb has no boot/vmlinux-*"
cp "$vmlinux" "$WORK/"
ln -sfn "$(basename "$vmlinux")" "$WORK/Image"
log "$(basename "$vmlinux"): $(stat -c %s "$vmlinux") bytes -> $WORK/Image"
echo "Boot test: qemu-system-riscv64 -M virt -m 256M -nographic -bios default -kernel $WORK/Image \\"
echo "             -initrd images/linux/initramfs.cpio.gz -append console=ttyS0"
