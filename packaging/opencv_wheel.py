"""Build (once) and locate the lean OpenCV wheel LexBrief's installers ship for OCR.

RapidOCR needs OpenCV only for array work on page images (cvtColor, resize, rotate,
getPerspectiveTransform/warpPerspective, findContours, minAreaRect/boxPoints, dilate, fillPoly,
copyMakeBorder, mean, bitwise_and/not); LexBrief hands it Pillow images, so it never decodes,
writes or shows an image with OpenCV. The opencv-python-headless wheel is 160 MB unpacked: a
74 MB cv2 with every module, plus FFmpeg, libaom, libvpx, libavif, OpenSSL and OpenBLAS (39 MB)
that cv2 names in DT_NEEDED, so none can simply be dropped from a bundle. This builds the same
OpenCV release from its PyPI source with only `core`, `imgproc` and `imgcodecs` (PNG only, for
imdecode/imwrite of PNG), all static in one `cv2` extension module: no FFmpeg or other video
library, no BLAS/LAPACK, no IPP, no OpenCL, no other image codec.

The result is a wheel named opencv-python-headless (so RapidOCR's requirement is met and
THIRD-PARTY.md lists it), version `<release>+lexbrief.lean`, kept in
`~/.cache/lexbrief/wheels/opencv-python-headless-<release>-lean/` (under $XDG_CACHE_HOME or
$LEXBRIEF_WHEELHOUSE if set) with its build log; a second run reuses it. packaging/build.py
installs it into the build venv only: the dev venv keeps the PyPI wheel.

Usage: python packaging/opencv_wheel.py   (with the Python the wheel is for, numpy installed;
needs CMake >= 3.13, a C++11 compiler, Ninja if present). Prints the wheel's path.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

OPENCV_VERSION = "4.14.0.94"  # opencv-python-headless's version (OpenCV 4.14.0)
LOCAL_TAG = "lexbrief.lean"
MODULES = "core,imgproc,imgcodecs,python3,python_bindings_generator"
CMAKE_OPTIONS = [
    "-DCMAKE_BUILD_TYPE=Release", f"-DBUILD_LIST={MODULES}", "-DBUILD_SHARED_LIBS=OFF",
    "-DOPENCV_SKIP_PYTHON_LOADER=ON", "-DBUILD_opencv_python2=OFF",
    "-DBUILD_TESTS=OFF", "-DBUILD_PERF_TESTS=OFF", "-DBUILD_EXAMPLES=OFF", "-DBUILD_DOCS=OFF",
    "-DBUILD_opencv_apps=OFF", "-DBUILD_JAVA=OFF", "-DBUILD_opencv_js=OFF",
    "-DOPENCV_GENERATE_PKGCONFIG=OFF", "-DINSTALL_PYTHON_EXAMPLES=OFF",
    # no video, no GUI, no accelerators or BLAS: nothing RapidOCR calls uses them
    "-DWITH_FFMPEG=OFF", "-DWITH_GSTREAMER=OFF", "-DWITH_V4L=OFF", "-DWITH_1394=OFF",
    "-DVIDEOIO_ENABLE_PLUGINS=OFF", "-DWITH_GTK=OFF", "-DWITH_QT=OFF", "-DWITH_OPENGL=OFF",
    "-DWITH_OPENCL=OFF", "-DWITH_CUDA=OFF", "-DWITH_VA=OFF", "-DWITH_VA_INTEL=OFF",
    "-DWITH_OPENVX=OFF", "-DWITH_IPP=OFF", "-DWITH_ITT=OFF", "-DWITH_TBB=OFF",
    "-DWITH_OPENMP=OFF", "-DWITH_LAPACK=OFF", "-DWITH_EIGEN=OFF", "-DWITH_PROTOBUF=OFF",
    "-DWITH_ADE=OFF", "-DWITH_QUIRC=OFF", "-DWITH_GDAL=OFF", "-DWITH_GDCM=OFF",
    "-DWITH_OBSENSOR=OFF",
    # image codecs: PNG only (zlib and libpng built in, static)
    "-DWITH_PNG=ON", "-DBUILD_PNG=ON", "-DBUILD_ZLIB=ON", "-DWITH_SPNG=OFF", "-DWITH_JPEG=OFF",
    "-DWITH_TIFF=OFF", "-DWITH_WEBP=OFF", "-DWITH_OPENJPEG=OFF", "-DWITH_JASPER=OFF",
    "-DWITH_OPENEXR=OFF", "-DWITH_AVIF=OFF", "-DWITH_IMGCODEC_HDR=OFF",
    "-DWITH_IMGCODEC_SUNRASTER=OFF", "-DWITH_IMGCODEC_PXM=OFF", "-DWITH_IMGCODEC_PFM=OFF",
    "-DWITH_IMGCODEC_GIF=OFF",
    # x86-64: SSE3 everywhere, the hot loops also as AVX2 (chosen at run time), as OpenCV does
    # by default minus its AVX-512 and FP16 copies (build time; OCR's time is ONNX Runtime's)
    "-DCPU_BASELINE=SSE3", "-DCPU_DISPATCH=SSE4_1,AVX2",
]
# The licences of what is compiled in (OpenCV and its bundled libpng and zlib).
LICENCE_FILES = {"LICENSE": "opencv/LICENSE", "LICENSE-libpng": "opencv/3rdparty/libpng/LICENSE",
                 "LICENSE-zlib": "opencv/3rdparty/zlib/LICENSE"}
LICENSE_EXPRESSION = "Apache-2.0 AND libpng-2.0 AND Zlib"


def wheelhouse() -> Path:
    root = os.environ.get("LEXBRIEF_WHEELHOUSE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lexbrief" / "wheels"
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return Path(root) / f"opencv-python-headless-{OPENCV_VERSION}-lean-{py}"


def find_wheel() -> Path | None:
    wheels = sorted(wheelhouse().glob("opencv_python_headless-*.whl"))
    return wheels[-1] if wheels else None


def unpacked_sdist(scratch: Path) -> Path:
    """opencv-python-headless's source from the package index (OpenCV's sources in opencv/)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
         "opencv-python-headless", "--disable-pip-version-check", "--quiet", "-d", str(scratch),
         f"opencv-python-headless=={OPENCV_VERSION}"], check=True, stdout=sys.stderr)
    archive = next(scratch.glob("opencv_python_headless-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
    archive.unlink()
    return next(p for p in scratch.iterdir() if p.is_dir())


def python_options() -> list[str]:
    """This Python's headers and numpy's, named outright: CMake's own search can pair the
    interpreter with another Python's library (pyenv beside the system's 3.11) and then leaves
    the python3 module out."""
    import numpy

    include = sysconfig.get_paths()["include"]
    options = [f"-DPYTHON3_EXECUTABLE={sys.executable}",
               f"-DPYTHON_DEFAULT_EXECUTABLE={sys.executable}",
               f"-DPYTHON3_INCLUDE_DIR={include}",
               f"-DPYTHON3_NUMPY_INCLUDE_DIRS={numpy.get_include()}"]
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if libdir and library and (Path(libdir) / library).is_file():
        options.append(f"-DPYTHON3_LIBRARY={Path(libdir) / library}")
    return options


def build_wheel() -> Path:
    existing = find_wheel()
    if existing:
        return existing
    target = wheelhouse()
    target.mkdir(parents=True, exist_ok=True)
    log_path = target / "build.log"
    started = time.monotonic()
    print(f"Building OpenCV {OPENCV_VERSION} (lean: {MODULES}); about 10 minutes on 2 cores, "
          "once per machine...", file=sys.stderr, flush=True)
    # The source and the CMake build folder stay in the wheelhouse until the wheel is made, so
    # an interrupted build goes on where it stopped.
    work = target / "work"
    work.mkdir(exist_ok=True)
    source = next((p for p in work.glob("opencv_python_headless-*") if p.is_dir()), None)
    if source is None or not (source / "opencv" / "CMakeLists.txt").is_file():
        source = unpacked_sdist(work)
    build = work / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    configure = ["cmake", "-S", str(source / "opencv"), "-B", str(build), *generator,
                 *CMAKE_OPTIONS, *python_options()]
    jobs = str(os.cpu_count() or 2)
    with log_path.open("w", encoding="utf-8", errors="replace") as log:
        for step in (configure, ["cmake", "--build", str(build), "--parallel", jobs]):
            log.write("$ " + " ".join(step) + "\n")
            log.flush()
            code = subprocess.run(step, stdout=log, stderr=subprocess.STDOUT,
                                  check=False).returncode
            built = [line for line in log_path.read_text(errors="replace").splitlines()
                     if "To be built:" in line]
            if code == 0 and step is configure and not (built and "python3" in built[-1]):
                code = 1  # configured without the Python module: stop before compiling
            if code != 0:
                tail = log_path.read_text(errors="replace").splitlines()[-40:]
                print("\n".join(tail), file=sys.stderr)
                raise SystemExit(f"building OpenCV failed (exit {code}); the whole log is "
                                 f"{log_path}")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    module = next(build.rglob(f"cv2{suffix}"), None)
    if module is None:
        raise SystemExit(f"the OpenCV build left no cv2{suffix} under {build} (see "
                         f"{log_path}: is Python's and numpy's development part there?)")
    subprocess.run(["strip", "--strip-unneeded", str(module)], check=False)
    licences = {name: (source / path).read_bytes() for name, path in LICENCE_FILES.items()
                if (source / path).is_file()}
    wheel = write_wheel(target, module, licences)
    shutil.rmtree(work, ignore_errors=True)
    elapsed = int(time.monotonic() - started)
    print(f"OpenCV built in {elapsed // 60}:{elapsed % 60:02d}: {wheel.name}, "
          f"{wheel.stat().st_size / 1e6:.1f} MB", file=sys.stderr, flush=True)
    return wheel


def write_wheel(target: Path, module: Path, licences: dict[str, bytes]) -> Path:
    """A wheel holding the one `cv2` extension module and its dist-info."""
    version = f"{OPENCV_VERSION}+{LOCAL_TAG}"
    tag = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    info = f"opencv_python_headless-{version}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.4", "Name: opencv-python-headless", f"Version: {version}",
        "Summary: OpenCV core, imgproc and imgcodecs (PNG), built lean for LexBrief's "
        "installers (packaging/opencv_wheel.py)",
        "Home-page: https://github.com/opencv/opencv-python",
        f"License-Expression: {LICENSE_EXPRESSION}",
        *[f"License-File: {name}" for name in licences], "Requires-Dist: numpy", "", ""])
    files: dict[str, bytes] = {
        module.name: module.read_bytes(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: lexbrief-opencv-wheel\n"
                          f"Root-Is-Purelib: false\nTag: {py}-{py}-{tag}\n").encode(),
        f"{info}/top_level.txt": b"cv2\n",
        **{f"{info}/licenses/{name}": data for name, data in licences.items()},
    }

    def record_line(name: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{name},sha256={digest},{len(data)}"

    record = "".join(record_line(n, d) + "\n" for n, d in files.items()) + f"{info}/RECORD,,\n"
    out = target / f"opencv_python_headless-{version}-{py}-{py}-{tag}.whl"
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = (0o755 if name == module.name else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
        archive.writestr(f"{info}/RECORD", record)
    partial.replace(out)  # never a half-written wheel under the real name
    return out


def main() -> int:
    print(build_wheel())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
