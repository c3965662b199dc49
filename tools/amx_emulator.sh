#!/usr/bin/env bash
# Runs dynq's tests on an emulated Intel Sapphire Rapids (AVX-512 and AMX-INT8), so that
# the AMX kernel (`--kernel avx512-amx`) is checked bit for bit against the scalar twin on a
# machine without AMX. Bochs 3.0 emulates AMX, with faults that tools/amx_emulator/
# bochs-amx.patch mends (no XFD, which Linux needs before it turns AMX on; signed bytes read
# unsigned in tdpbusd; a thread's tiles lost when Linux switches threads). The guest is
# Debian 13's cloud kernel, whose initramfs holds the statically linked tests, the repository's
# files and a small /init (tools/amx_emulator/init.rs) that prints what they print on Bochs's
# debug port.
#
#   tools/amx_emulator.sh [test filter...]      unit tests; default: kernels:: (about 2
#                                               minutes, plus 5 to build Bochs the first time)
#   tools/amx_emulator.sh ''                    every unit test
#   DYNQ_AMX_TESTS="--test no_alloc" tools/amx_emulator.sh forward_into
#                                               an integration test instead of the unit tests
#                                               (those that start dynq find it in the guest)
#
# Needs Debian or Ubuntu tools (dpkg-deb), a C++ compiler and make, and deb.debian.org. All it
# fetches and builds goes to $DYNQ_AMX_DIR (default ~/.cache/dynq-amx); the first run builds
# Bochs (about 5 minutes on 2 cores). Exits 0 only if the test binary printed
# "test result: ok" and ran with the AMX kernel available.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${DYNQ_AMX_DIR:-$HOME/.cache/dynq-amx}
tests=${DYNQ_AMX_TESTS:---lib}
mirror=http://deb.debian.org/debian
filter=("$@")
[ ${#filter[@]} -gt 0 ] || filter=(kernels::)
mkdir -p "$work"
cd "$work"

need=()
for tool in genisoimage cpio make g++ curl git; do
    command -v "$tool" >/dev/null || need+=("$tool")
done
[ -f /usr/lib/ISOLINUX/isolinux.bin ] || need+=(isolinux)
[ -f /usr/lib/syslinux/modules/bios/ldlinux.c32 ] || need+=(syslinux-common)
if [ ${#need[@]} -gt 0 ]; then
    echo "amx_emulator: missing ${need[*]}: apt-get install isolinux syslinux-common genisoimage cpio make g++ curl git libncurses-dev" >&2
    exit 2
fi

# Bochs 3.0 with AVX-512 and AMX, patched (see the patch's head); built again whenever the
# patch or these options change, so that a cached Bochs never runs without a mend. Without
# show-ips: its once-a-second SIGALRM handler logs, and when it interrupts Bochs's own
# logging (the guest reads unknown MSRs on every timer tick) it waits forever on the log's
# mutex, which the interrupted code holds.
bochs=$work/bochs-3.0/bochs
patch_file=$repo/tools/amx_emulator/bochs-amx.patch
options=(--enable-x86-64 --enable-cpu-level=6 --enable-avx --enable-evex --enable-amx
    --enable-all-optimizations --enable-pci --with-nogui --disable-docbook --disable-show-ips)
build_id=$({ echo "${options[*]}"; cat "$patch_file"; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$bochs" ] || [ "$(cat bochs-3.0/build-id 2>/dev/null)" != "$build_id" ]; then
    [ -f bochs_3.0+dfsg.orig.tar.xz ] ||
        curl -fsSO "$mirror/pool/main/b/bochs/bochs_3.0+dfsg.orig.tar.xz"
    rm -rf bochs-3.0 && tar xf bochs_3.0+dfsg.orig.tar.xz
    (cd bochs-3.0 && patch -p1 < "$patch_file" &&
        ./configure "${options[@]}" > configure.log &&
        make -j"$(nproc)" > make.log 2>&1 &&
        echo "$build_id" > build-id)
fi

# Its BIOS, and Debian 13's cloud kernel (6.1's faults in Bochs: its page-fault handler
# recurses into a double fault after "smpboot: weird, boot CPU (#0) not listed by the BIOS").
if [ ! -f bios/usr/share/bochs/BIOS-bochs-latest ]; then
    curl -fsSO "$mirror/pool/main/b/bochs/bochsbios_3.0+dfsg-1_all.deb"
    curl -fsSO "$mirror/pool/main/v/vgabios/vgabios_0.8a+ds-2_all.deb"
    dpkg-deb -x bochsbios_3.0+dfsg-1_all.deb bios
    dpkg-deb -x vgabios_0.8a+ds-2_all.deb bios
fi
if ! ls kernel/boot/vmlinuz-* >/dev/null 2>&1; then
    deb=$(curl -fsS "$mirror/dists/trixie/main/binary-amd64/Packages.xz" | xz -d |
        grep -o 'pool/main/l/linux/linux-image-[^ ]*-cloud-amd64-unsigned_[^ ]*_amd64\.deb' |
        sort -V | tail -1)
    curl -fsS -o kernel.deb "$mirror/$deb"
    dpkg-deb -x kernel.deb kernel
fi

# The tests, linked statically (the guest has no C library), and the guest's /init.
# shellcheck disable=SC2086 # $tests holds cargo arguments
binary=$(cd "$repo" && CARGO_TARGET_DIR=$work/target RUSTFLAGS="-C target-feature=+crt-static" \
    cargo test --release $tests --no-run --target x86_64-unknown-linux-gnu \
    2>&1 | grep -o '/[^ )]*/deps/[a-z_]*-[0-9a-f]*' | tail -1)
rm -rf initrd iso && mkdir -p initrd/dev initrd/tmp initrd/proc initrd/sys iso/isolinux
objcopy --strip-debug "$binary" initrd/dynq-tests
rustc --edition 2024 -O -C target-feature=+crt-static "$repo/tools/amx_emulator/init.rs" \
    -o initrd/init
mknod initrd/dev/console c 5 1 2>/dev/null || true
# The repository's tracked files (fixtures, models, presets, snapshots) where cargo built the
# tests to look for them.
mkdir -p "initrd$repo"
(dest=$PWD/initrd$repo && cd "$repo" && git ls-files -z | cpio -0pdm --quiet "$dest")
# The dynq binary, where the integration tests that start it were built to find it (cargo
# builds it for them, not for the unit tests).
dynq=$work/target/x86_64-unknown-linux-gnu/release/dynq
if [ "$tests" != --lib ] && [ -x "$dynq" ]; then
    mkdir -p "initrd$(dirname "$dynq")"
    objcopy --strip-debug "$dynq" "initrd$dynq"
fi
(cd initrd && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../iso/initrd.gz)
cp kernel/boot/vmlinuz-* iso/vmlinuz
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 iso/isolinux/
# What takes this kernel through Bochs 3.0 to /init: acpi=off (enabling ACPI enters
# system-management mode, and the guest gets no timer interrupts after Bochs returns from it),
# nolapic, tsc=reliable and no_timer_check (the timer checks hang), ibt=off, mitigations=off.
# The kernel hands a parameter it does not know with an `=` to /init as an environment
# variable: INSTA_WORKSPACE_ROOT shows the snapshot tests their files without cargo.
cat > iso/isolinux/isolinux.cfg <<EOF
DEFAULT linux
PROMPT 0
LABEL linux
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz rdinit=/init quiet panic=-1 tsc=reliable no_timer_check lsm=capability acpi=off nolapic ibt=off mitigations=off nmi_watchdog=0 nowatchdog INSTA_WORKSPACE_ROOT=$repo -- ${filter[*]} --test-threads=1
EOF
genisoimage -quiet -o boot.iso -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot \
    -boot-load-size 4 -boot-info-table -J -R iso
cat > bochsrc <<EOF
megs: 512
cpu: model=sapphire_rapids, count=1, ips=400000000
romimage: file=$work/bios/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=$work/bios/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path=boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=serial.txt
port_e9_hack: enabled=1, all_rings=1
display_library: nogui
log: bochs.log
clock: sync=none
EOF

# The guest's /init stops Bochs when the tests end; a stuck guest is stopped after 90 minutes.
echo "amx_emulator: booting the emulated Sapphire Rapids (the tests' output follows)"
timeout 5400 "$bochs" -q -f bochsrc 2>&1 | tee run.log | grep --line-buffered -v '^[0-9]\{11\}[a-z]\[' || true
grep -q "avx512-amx kernels not available" run.log &&
    { echo "amx_emulator: the guest did not offer AMX" >&2; exit 1; }
grep -q "^test result: ok" run.log || { echo "amx_emulator: tests failed or did not end" >&2; exit 1; }
echo "amx_emulator: passed on the emulated Sapphire Rapids"
