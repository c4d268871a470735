"""Mutation fuzzing of the beatmap and mapset readers: `python bench/fuzz.py --minutes N`; of model
folders and LoRA adapters with `--models` (bench/fuzz_models.py says how).

Over 300 lines: one script a user runs alone, with its mutators, its worker sandbox (limits, timeouts)
and its report grouping together, so that nothing it needs lives in tests/ or the package.

Seeds are the corpus beatmaps (../shared/corpus) and mapsets zipped from them here; each case
mutates one seed a few times (numbers swapped for extreme values, lines repeated, deleted or cut,
bytes flipped, curve points multiplied, archive header fields patched) and runs it through what a
user's file meets: read -> write -> read -> events of each context -> tokens of every window, for
the v30 or the v32 tokenizer (between them every event kind and setting), and the osu! slider
geometry of its most extreme sliders; archives through `read_osz` and `extract_osz`.

A case passes when it completes or raises mapper's own MapperInputError. Anything else is a
failure, grouped by kind and place: an exception of another type (by type and innermost project
frame), a hang (over --timeout seconds of CPU time, so that a CPU shared with other work does not
count; the place is where the case was when stopped), memory over --memory-mb, or a written copy
that its own reader refuses. Each case runs in a worker process with an address-space limit; a
worker that spends a second more CPU than the limit (stuck in C code, where the alarm cannot stop
it) or ten minutes of wall time on one case, or dies, is replaced.
"""

from __future__ import annotations

import argparse
import faulthandler
import io
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.fuzz_models import BadMessage, make_seeds, mutate_folder  # noqa: E402 - after the path is set

CORPUS = ROOT.parent / "shared" / "corpus"
PROJECT_DIRS = ("tokenization", "training", "models", "profiles", "mapperator_cli")

MAX_WALL_SECONDS = 600
EXTREMES = ["0", "-0", "1", "-1", "2147483647", "-2147483648", "2147483648", "4294967296", "-5162220307",
            "9223372036854775807", "1e300", "-1e300", "1e-300", "5e-324", "1e308", "0.0000001", "NaN", "nan",
            "inf", "-Infinity", "", " ", "²", "1e", "0x10", "99999999999999999999999", "100000", "9001",
            "1.5", "-100", "-0.000001", "60001", "5", "1000000000"]


# ----------------------------------------------------------------------------------------------- mutations

NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _mutate_number(rng: random.Random, data: bytes) -> bytes:
    spans = [m.span() for m in NUMBER.finditer(data)]
    if not spans:
        return data
    start, end = rng.choice(spans)
    value = rng.choice(EXTREMES).encode() if rng.random() < 0.7 else str(rng.choice([
        int(data[start:end] or b"0") * 10 ** rng.randint(1, 12) if data[start:end].lstrip(b"-").isdigit() else 0,
        rng.uniform(-1e12, 1e12)])).encode()
    return data[:start] + value + data[end:]


def _repeat_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    index = rng.randrange(len(lines))
    return b"\n".join(lines[:index] + [lines[index]] * rng.choice([2, 10, 100, 2000]) + lines[index + 1:])


def _delete_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def _swap_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 4, 32])):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = rng.choice([b"\x00", b"\r", b"\n[HitObjects]\n", b",", b"|", b":", b"//", b"\xef\xbb\xbf", b"\xff\xfe",
                       bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))])
    return data[:at] + junk + data[at:]


def _multiply_curve(rng: random.Random, data: bytes) -> bytes:
    """Repeat a slider's control point many times (long lines of curve points)."""
    matches = list(re.finditer(rb"\|(-?\d+:-?\d+)", data))
    if not matches:
        return data
    match = rng.choice(matches)
    point = b"|" + match.group(1)
    return data[:match.end()] + point * rng.choice([10, 1000, 30000]) + data[match.end():]


def _set_field(rng: random.Random, data: bytes) -> bytes:
    """Set a key of [General]/[Difficulty] or a field of a timing point or object line to an extreme."""
    lines = _lines(data)
    candidates = [i for i, line in enumerate(lines) if b"," in line or b":" in line]
    if not candidates:
        return data
    index = rng.choice(candidates)
    line = lines[index]
    if b"," in line:
        parts = line.split(b",")
        parts[rng.randrange(len(parts))] = rng.choice(EXTREMES).encode()
        lines[index] = b",".join(parts)
    else:
        key, _, _ = line.partition(b":")
        lines[index] = key + b":" + rng.choice(EXTREMES).encode()
    return b"\n".join(lines)


def _header(rng: random.Random, data: bytes) -> bytes:
    version = rng.choice([b"v\xc2\xb2", b"v", b"v0", b"v3", b"v4", b"v128", b"v99999", b"v-1", b"v 14", b"v1\x00"])
    return re.sub(rb"v\d+", version, data, count=1)


OSU_MUTATIONS = [_mutate_number, _mutate_number, _mutate_number, _set_field, _set_field, _repeat_line,
                 _delete_line, _swap_lines, _truncate, _flip_bytes, _insert_bytes, _multiply_curve, _header]


def mutate_osu(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        mutation = rng.choice(OSU_MUTATIONS)
        data = mutation(rng, data)
        names.append(mutation.__name__.lstrip("_"))
    return data, names


def make_osz(members: dict[str, bytes], compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _patch_header(rng: random.Random, data: bytes) -> bytes:
    """Overwrite a field of a local or central header: flags, method, CRC, sizes, name length, offset."""
    out = bytearray(data)
    signature = rng.choice([b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"])
    places = [m.start() for m in re.finditer(re.escape(signature), data)]
    if not places:
        return data
    at = rng.choice(places) + rng.randrange(4, 30)
    width = rng.choice([1, 2, 4])
    value = rng.choice([0, 1, 0xFF, 0xFFFF, 0xFFFFFFFF, 99, 14, 12, 0x800, rng.randrange(2**32)])
    out[at:at + width] = value.to_bytes(8, "little")[:width]
    return bytes(out[:len(data)])


def _zip_bomb(rng: random.Random, data: bytes) -> bytes:
    count = rng.choice([2, 50, 200])
    return make_osz({f"sb/{i}.png": bytes(rng.choice([1024 * 1024 - 1, 4 * 1024 * 1024])) for i in range(count)},
                    zipfile.ZIP_DEFLATED)


OSZ_MUTATIONS = [_patch_header, _patch_header, _patch_header, _flip_bytes, _truncate, _insert_bytes]


def mutate_osz(rng: random.Random, members: dict[str, bytes]) -> tuple[bytes, list[str]]:
    names = []
    if rng.random() < 0.3:  # a mutated beatmap inside an intact archive
        name = rng.choice(sorted(members))
        members = dict(members)
        members[name], inner = mutate_osu(rng, members[name])
        names.append("member:" + "+".join(inner))
    compression = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
    data = make_osz(members, compression)
    if rng.random() < 0.02:
        return _zip_bomb(rng, data), ["zip_bomb"]
    for _ in range(rng.choice([0, 1, 1, 2])):
        mutation = rng.choice(OSZ_MUTATIONS)
        data = mutation(rng, data)
        names.append(mutation.__name__.lstrip("_"))
    return data, names


# ----------------------------------------------------------------------------------------------- one case

_TOKENIZERS: list = []


def tokenizers() -> list:
    if not _TOKENIZERS:
        from profiles import load_profile
        from tokenization.tokenizer import Tokenizer
        from tokenization.vocabulary import build_vocabulary

        for version in ("v30", "v32"):
            profile = load_profile(version)
            vocab = build_vocabulary(profile.tokenizer, [(t.inputs, t.outputs) for t in profile.templates])
            _TOKENIZERS.append(Tokenizer(vocab, profile.tokenizer))
    return _TOKENIZERS


class WrittenCopyRefused(Exception):
    """Our own writer produced a file our reader refuses."""


class CaseTimeout(BaseException):
    """Raised by the CPU-time alarm inside the case; a BaseException so no `except Exception` eats it."""


def _on_alarm(signum, frame) -> None:
    raise CaseTimeout


def run_osu(data: bytes, version: int = 0) -> None:
    from tokenization.beatmap import Slider
    from tokenization.beatmap_to_events import BeatmapEncoder
    from tokenization.errors import MapperInputError
    from tokenization.events import ContextType
    from tokenization.osu_reader import parse_beatmap
    from tokenization.osu_writer import format_beatmap
    from tokenization.slider_path import SliderPath

    beatmap = parse_beatmap(data, path="case.osu")
    written = format_beatmap(beatmap).encode("utf-8")
    try:
        again = parse_beatmap(written, path="case.osu (written)")
    except MapperInputError as exc:
        raise WrittenCopyRefused(str(exc)) from None
    for tokenizer in tokenizers()[version:version + 1]:
        encoder = BeatmapEncoder(again, tokenizer.settings)
        for context in (ContextType.MAP, ContextType.TIMING, ContextType.KIAI, ContextType.SV):
            events = encoder.context(context)
            for window in tokenizer.windows(events):
                tokenizer.encode(window.events)
    # osu!'s slider geometry (diffusion refinement, decoding) for the sliders most likely to be extreme
    sliders = [obj for obj in again.hit_objects if isinstance(obj, Slider)]
    sliders.sort(key=lambda o: (len(o.path), o.length, max(abs(p.x) + abs(p.y) for p in o.path)), reverse=True)
    for slider in sliders[:20]:
        SliderPath.of(slider).end_position()


def run_osz(data: bytes) -> None:
    from tokenization.errors import MapperInputError
    from tokenization.osz import extract_osz, read_osz

    with tempfile.TemporaryDirectory(prefix="fuzz-osz-") as folder:
        path = Path(folder) / "case.osz"
        path.write_bytes(data)
        try:
            read_osz(path)
        except MapperInputError:
            pass
        extract_osz(path, Path(folder) / "out")


def run_case(kind: str, data) -> None:
    """`kind` is "osz", "model" (a model folder's files), or "osu" with the index of the tokenizer
    to use ("osu1": v32)."""
    if kind == "model":
        from bench.fuzz_models import run_model_folder

        run_model_folder(data)
    elif kind.startswith("osu"):
        run_osu(data, int(kind[3:] or 0))
    else:
        run_osz(data)


def failure_place(exc: BaseException) -> str:
    """The innermost frame in the project's own code, as file:line (function)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if any(f"/{d}/" in f.filename for d in PROJECT_DIRS)]
    frame = (own or frames or [None])[-1]
    if frame is None:
        return "?"
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno} ({frame.name})"


def classify(kind: str, data: bytes, cpu_seconds: float | None = None) -> tuple[str, str]:
    """("pass", "") or ("fail", group) for one case, run here (stopped after `cpu_seconds` of CPU)."""
    from tokenization.errors import MapperInputError

    try:
        if cpu_seconds:
            signal.signal(signal.SIGPROF, _on_alarm)
            signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
        try:
            run_case(kind, data)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except MapperInputError:
        return "pass", "refused"
    except WrittenCopyRefused as exc:
        return "fail", f"written copy refused: {str(exc).split(':', 2)[-1].strip()[:60]}"
    except BadMessage as exc:
        return "fail", f"message: {exc}"
    except MemoryError as exc:
        return "fail", f"memory: MemoryError at {failure_place(exc)}"
    except CaseTimeout as exc:
        return "fail", f"hang: over the CPU-time limit at {failure_place(exc)}"
    except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
        return "fail", f"{type(exc).__name__} at {failure_place(exc)}"
    return "pass", ""


# ----------------------------------------------------------------------------------------------- workers

def _worker(connection, memory_mb: int, stack_file: str, cpu_seconds: float, warmup=None) -> None:
    os.nice(5)
    tokenizers()  # before the limit: the vocabularies are the same for every case
    if warmup is not None:  # torch and the model loaders imported (and their first-call work done)
        run_case(*warmup)
    base = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = base + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with open(stack_file, "w") as stacks:
        faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=False)
        connection.send("ready")
        while True:
            try:
                kind, data = connection.recv()
            except EOFError:
                return
            usage = resource.getrusage(resource.RUSAGE_SELF)
            before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
            outcome, group = classify(kind, data, cpu_seconds)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            peak_mb = usage.ru_maxrss / 1024
            if outcome == "pass" and peak_mb > memory_mb and peak_mb * 1024 > before:
                outcome, group = "fail", f"memory: peak {peak_mb:.0f} MB"
            connection.send((outcome, group, usage.ru_utime + usage.ru_stime - cpu_before))


class Worker:
    def __init__(self, memory_mb: int, cpu_seconds: float, warmup=None, wall_seconds: float = MAX_WALL_SECONDS):
        self.memory_mb = memory_mb
        self.cpu_seconds = cpu_seconds
        self.warmup = warmup  # a (kind, data) case run before the memory limit is set
        self.wall_seconds = wall_seconds
        self.stack_file = tempfile.mkstemp(prefix="fuzz-stack-", suffix=".txt")[1]
        self.start()

    def start(self) -> None:
        context = mp.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, self.memory_mb, self.stack_file, self.cpu_seconds,
                                                             self.warmup), daemon=True)
        self.process.start()
        child.close()
        if not self.connection.poll(300) or self.connection.recv() != "ready":
            raise RuntimeError("the fuzz worker did not start")

    def peak_mb(self) -> float:
        """The worker's peak resident memory so far (VmHWM), 0 when it is gone."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0.0
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else 0.0

    def cpu_time(self) -> float:
        """CPU seconds the worker has used (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(self, kind: str, data: bytes) -> tuple[str, str, float]:
        # The worker's own CPU alarm stops Python code; this watches for C code that ignores it, by
        # CPU time too, so that a machine busy with other work does not make slow cases "hangs".
        started, cpu_before = time.monotonic(), self.cpu_time()
        try:
            self.connection.send((kind, data))
            while not self.connection.poll(1.0):
                cpu = self.cpu_time() - cpu_before
                if cpu > self.cpu_seconds + 1 or time.monotonic() - started > self.wall_seconds:
                    place = self.where_stuck()
                    self.restart()
                    return "fail", f"hang: {cpu:.0f} s of CPU, stuck outside Python at {place}", cpu
            return self.connection.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, FileNotFoundError):
            self.restart()
            return "fail", "crash: worker died (killed for memory?)", 0.0

    def where_stuck(self) -> str:
        Path(self.stack_file).write_text("")
        try:
            os.kill(self.process.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return "?"
        time.sleep(0.3)
        lines = Path(self.stack_file).read_text().splitlines()
        for line in lines:  # innermost first: the first frame of our own code
            match = re.search(r'File "([^"]+)", line (\d+) in (\S+)', line)
            if match and any(f"/{d}/" in match.group(1) for d in PROJECT_DIRS):
                path = Path(match.group(1))
                return f"{path.parent.name}/{path.name}:{match.group(2)} ({match.group(3)})"
        return "?"

    def restart(self) -> None:
        self.process.kill()
        self.process.join()
        self.start()

    def close(self) -> None:
        self.process.kill()
        self.process.join()
        Path(self.stack_file).unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------- driver

def seeds(corpus: Path) -> tuple[list[bytes], list[dict[str, bytes]]]:
    files = sorted(corpus.rglob("*.osu"))
    maps = [p.read_bytes() for p in files]
    by_folder: dict[Path, dict[str, bytes]] = {}
    for path, data in zip(files, maps):
        by_folder.setdefault(path.parent, {})[path.name] = data
    sets = [dict(list(members.items())[:4]) for members in by_folder.values()]
    return maps, sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds of CPU time a case may take")
    parser.add_argument("--memory-mb", type=int, default=1024, help="memory a case may use")
    parser.add_argument("--osz-share", type=float, default=0.2, help="fraction of cases that are archives")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--save", type=Path, default=None, help="write the first input of each failure group here")
    parser.add_argument("--models", action="store_true", help="fuzz model folders and LoRA adapters instead")
    parser.add_argument("--wall-limit", type=float, default=None,
                        help=f"wall seconds one case may take (default {MAX_WALL_SECONDS}; 60 with --models, where "
                             "a case blocked on a FIFO uses no CPU)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.models:
        return fuzz_models(args, rng)
    maps, sets = seeds(args.corpus)
    if not maps:
        print(f"no .osu files under {args.corpus}: nothing to fuzz", file=sys.stderr)
        return 2
    worker = Worker(args.memory_mb, args.timeout, wall_seconds=args.wall_limit or MAX_WALL_SECONDS)
    groups: Counter[str] = Counter()
    examples: dict[str, str] = {}
    cases = passes = 0
    slowest = peak = 0.0
    deadline = time.monotonic() + args.minutes * 60
    next_report = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if rng.random() < args.osz_share:
                kind, (data, how) = "osz", mutate_osz(rng, rng.choice(sets))
            else:
                kind, (data, how) = f"osu{rng.randrange(2)}", mutate_osu(rng, rng.choice(maps))
            outcome, group, seconds = worker.run(kind, data)
            cases += 1
            slowest = max(slowest, seconds)
            peak = max(peak, worker.peak_mb())
            if outcome == "pass":
                passes += 1
            else:
                groups[group] += 1
                if group not in examples:
                    examples[group] = f"{kind} case {cases}: {'+'.join(how)}"
                    print(f"new failure group: {group} ({examples[group]})", flush=True)
                    if args.save is not None:
                        args.save.mkdir(parents=True, exist_ok=True)
                        (args.save / f"group{len(examples)}.{kind[:3]}").write_bytes(data)
            if time.monotonic() >= next_report:
                print(f"{cases} cases, {passes} passes, {len(groups)} failure groups", flush=True)
                next_report += 60
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        worker.close()
    print(f"fuzz: {cases} cases in {args.minutes:g} min, {passes} passes, {cases - passes} failures in "
          f"{len(groups)} failure groups (slowest case {slowest:.2f} s of CPU, worker peak {peak:.0f} MB; limits "
          f"{args.timeout:g} s, {args.memory_mb} MB)")
    for group, count in groups.most_common():
        print(f"  {count:6d}  {group}  e.g. {examples[group]}")
    return 1 if groups else 0


def fuzz_models(args, rng: random.Random) -> int:
    """The model-folder fuzzer's loop and report (cases, failures by group, slowest case, peak memory)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as workdir:
        model_seeds = make_seeds(Path(workdir))
    worker = Worker(args.memory_mb, args.timeout, warmup=("model", model_seeds[0]), wall_seconds=args.wall_limit or 60)
    baseline = worker.peak_mb()
    groups: Counter[str] = Counter()
    examples: dict[str, str] = {}
    cases = passes = refused = 0
    slowest, slowest_how, peak = 0.0, "", baseline
    deadline = time.monotonic() + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            files, how = mutate_folder(rng, rng.choice(model_seeds))
            outcome, group, seconds = worker.run("model", files)
            cases += 1
            if seconds > slowest:
                slowest, slowest_how = seconds, "+".join(how)
            peak = max(peak, worker.peak_mb())
            if outcome == "pass":
                passes += 1
                refused += group == "refused"
                continue
            groups[group] += 1
            if group not in examples:
                examples[group] = f"case {cases}: {'+'.join(how)}"
                print(f"new failure group: {group} ({examples[group]})", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        worker.close()
    print(f"fuzz --models: {cases} cases in {args.minutes:g} min from {len(model_seeds)} seed folders, {passes} "
          f"passes ({refused} refused in one line, {passes - refused} loaded and ran), {cases - passes} failures in {len(groups)} failure groups (slowest case {slowest:.2f} s of CPU: "
          f"{slowest_how}; worker peak {peak:.0f} MB, {baseline:.0f} MB of it torch and the loaders before the "
          f"first case; limits {args.timeout:g} s of CPU, {args.memory_mb} MB more)")
    for group, count in groups.most_common():
        print(f"  {count:6d}  {group}  e.g. {examples[group]}")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
