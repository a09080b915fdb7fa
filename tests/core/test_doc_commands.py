"""Every command in README.md and docs/*.md works as written.

The commands are read from the fenced ```bash blocks at test time (continuation lines joined,
comments dropped), so a command someone adds to the docs later is picked up: it is either run
here or listed in NOT_RUN with the reason, and `test_every_documented_command_is_run_or_listed`
fails on one that is neither.

Default suite (seconds): the extraction, that coverage check, and every `seqgen-*` command's
configuration composed and validated as written (a renamed key, group or experiment fails).

`slow` (`make test-docs`; not in .ci/run until it is timed within CI's limit): each document's commands run in
order, in a temporary folder laid out like a checkout (`.venv`, `Makefile`, the scripts; `data/`
shared between the documents, so a corpus is prepared once), as a reader following the page:

* `<run>` placeholders are filled from the run folders that earlier commands printed
  (`[seqgen] training finished. Run folder: ...`): the same block's first, then the document's
  earlier blocks; `<synthesis run>` takes the newest run whose command names "synthesis";
* budgets are capped by the overrides CAPS appends (Hydra keeps the last value of a key):
  a few training steps, short samples, a server started on a free port and stopped;
* `make` targets run through the Makefile, their budget passed as the make variables it
  documents (TRAIN_ARGS, SERVE_ARGS); the page `make demo` serves is opened in chromium;
* a non-zero exit status or a traceback fails the test, with the command and its output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from conftest import CHROMIUM, CHROMIUM_ARGS, REPO, compose_command

DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
RUN_FOLDER = re.compile(r"\[seqgen\] training finished\. Run folder: (\S+)")
SERVING = re.compile(r"Uvicorn running on (http://\S+)")
PLACEHOLDER_RUN = re.compile(r"(?:outputs/train/runs/)?<(?:(\w+) )?run>")
COMMAND_TIMEOUT_S = 1800  # one command on a loaded 2-core machine; CI's whole job has 90 minutes

# --- what cannot run here, and why ------------------------------------------------------------
# Exact command texts (as `doc_commands` extracts them: continuation lines joined, comment dropped).
NOT_RUN: dict[str, list[str]] = {
    "this is the test suite itself (`make test`; its long checks are `make test-slow`)": [
        "make test",
        ".venv/bin/python -m pytest -q tests/families/handwriting/test_serve_api.py tests/families/handwriting/test_serve_browser.py",
    ],
    "real SLURM, munge and root: `make test-cluster` runs these engines (.ci/run)": [
        "make test-cluster",
        ".venv/bin/python -m pytest -v -rs -s -m cluster tests/cluster",
        "sbatch job.sbatch",
    ],
    "a multi-node SLURM cluster with GPUs (tests/cluster checks the same launcher on one node)": [
        ".venv/bin/seqgen-train -m hydra/launcher=submitit_slurm experiment=text_wikipedia trainer=ddp "
        "trainer.devices=4 trainer.num_nodes=2 hydra.launcher.gpus_per_node=4 hydra.launcher.nodes=2 "
        "hydra.launcher.partition=gpu hydra.launcher.timeout_min=2880 resume=auto model.hidden_size=400,700",
    ],
    "a sketch of what tests/cluster runs, with its <tmp>, <folder> and <port> placeholders": [
        ".venv/bin/python cluster/render_sbatch.py --experiment text_quickstart --cpu --tasks-per-node 2 "
        "--cpus-per-task 1 --time 3 --signal-s 60 --partition short --job-name seqgen-requeue "
        "--data-dir <prepared tiny corpus> --log-dir <tmp>/logs --run-root <tmp>/runs -o job.sbatch -- "
        "data=text_file model.hidden_size=32 ... trainer.max_steps=300 callbacks.last_checkpoint.every_n_steps=0",
        "SLURM_CONF=<folder>/slurm.conf sbatch --parsable job.sbatch",
        "SLURM_CONF=<folder>/slurm.conf .venv/bin/seqgen-train -m hydra/launcher=submitit_slurm data=text_file ... "
        "trainer.max_steps=300 callbacks.last_checkpoint.every_n_steps=25 hydra.launcher.partition=short "
        "hydra.launcher.timeout_min=3 hydra.launcher.signal_delay_s=60 hydra.launcher.gpus_per_node=null "
        "hydra.launcher.tasks_per_node=1 hydra.launcher.cpus_per_task=1 hydra.sweep.dir=<tmp>/multirun resume=auto "
        "model.hidden_size=16,32",
        "ray start --head --port=<free port> --node-ip-address=127.0.0.1 --num-cpus=2 --include-dashboard=false "
        "--object-store-memory=200000000 --temp-dir=<tmp>/ray --disable-usage-stats",
        "RAY_ADDRESS=127.0.0.1:<port> seqgen-sweep sweep=tiny_test sweep.num_samples=2 sweep.address=auto "
        "paths.data_dir=<the embedded corpus, prepared> paths.log_dir=<tmp>/outputs",
        "ray stop",
    ],
    "a cloud Ray cluster (cluster/ray/cluster.yaml needs cloud credentials)": [
        ".venv/bin/ray up cluster/ray/cluster.yaml",
        ".venv/bin/ray exec cluster/ray/cluster.yaml 'cd ~/seqgen && .venv/bin/seqgen-sweep sweep=text_lr "
        "sweep.address=auto sweep.resources_per_trial.gpu=1 sweep.resources_per_trial.cpu=4 "
        "paths.log_dir=/shared/seqgen/outputs paths.data_dir=/shared/seqgen/data'",
        ".venv/bin/ray down cluster/ray/cluster.yaml",
    ],
    "GPUs (several per machine, or several machines)": [
        ".venv/bin/seqgen-train trainer=ddp trainer.devices=2 experiment=text_quickstart",
        ".venv/bin/seqgen-train experiment=text_wikipedia trainer=ddp trainer.devices=4",
        "cluster/torchrun/train.sh --gpus 4 experiment=text_wikipedia",
        "NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 RUN_ID=wiki1 cluster/torchrun/train.sh --gpus 4 experiment=text_wikipedia",
        "NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 RUN_ID=wiki1 cluster/torchrun/train.sh --gpus 4 experiment=text_wikipedia",
    ],
    "Ray Tune sweeps: hours of training; the documented sweep commands are the runtime work (issue 25), "
    "tests/core/test_sweep.py runs the sweep machinery": [
        ".venv/bin/seqgen-sweep sweep=text_depth_width",
        ".venv/bin/seqgen-sweep sweep=text_lr sweep.num_samples=16",
        ".venv/bin/seqgen-sweep sweep=tiny_test '+trial_overrides=[trainer.max_steps=50,model.dropout=0.1]'",
        ".venv/bin/seqgen-sweep sweep=tiny_test sweep.num_samples=1 sweep.resources_per_trial.workers=2 ray.num_cpus=2",
    ],
    "a real corpus that is not on this machine (enwik8, TIMIT, MNIST files; no download in tests)": [
        ".venv/bin/seqgen-prepare data=enwik8 data.corpus.root=/datasets/enwik8 data.corpus.split=paper",
        ".venv/bin/seqgen-train experiment=text_wikipedia data.corpus.root=/datasets/enwik8",
        ".venv/bin/seqgen-prepare data=timit data.corpus.root=/datasets/timit",
        ".venv/bin/seqgen-prepare data=mnist_idx data.corpus.train_images=train-images-idx3-ubyte.gz "
        "data.corpus.train_labels=train-labels-idx1-ubyte.gz data.corpus.test_images=t10k-images-idx3-ubyte.gz "
        "data.corpus.test_labels=t10k-labels-idx1-ubyte.gz",
        ".venv/bin/seqgen-prepare data=binarized_mnist data.corpus.root=/datasets/binarized_mnist",
    ],
    "a Debian package installed with root (dataset-fashion-mnist); tests/families/image reads its format": [
        "sudo apt-get install dataset-fashion-mnist",
        ".venv/bin/seqgen-prepare data=fashion_mnist",
        ".venv/bin/seqgen-train experiment=image_quickstart data=fashion_mnist model.hidden_size=64 trainer.max_time=00:01:00:00",
    ],
    "the real IAM-OnDB styles in an example folder (/data/iam/styles); test_serve_defaults reads them "
    "from paths.styles_dir": [
        ".venv/bin/seqgen-serve ckpt=<run> styles_dir=/data/iam/styles",
    ],
    "a maintainer's step: copies a measured run's WAVs over the files tracked in docs/audio": [
        "for n in real resynthesised generated-bias0 generated-bias1; do cp outputs/speech_intelligibility/listen-$n.wav "
        "docs/audio/speech-mel-$n.wav; done",
    ],
    "a request to a demo server on port 8000 (the page's own API: test_serve_api.py makes the same request)": [
        "curl -N -X POST localhost:8000/api/write -H 'content-type: application/json' -d '{\"text\": \"hello world\", \"bias\": 1}'",
    ],
}

# --- budget caps, appended -----------------------------------------------------------------------
# (pattern searched in the command, overrides appended); the first matching pattern applies.
TRAIN_CAP = "trainer.max_steps=3 trainer.limit_val_batches=2 trainer.limit_test_batches=2"
CAPS: list[tuple[str, str]] = [
    (r"seqgen-train\b.*\bresume=", "trainer.max_steps=6"),  # continues the capped run for 3 more steps
    (r"seqgen-train\b", TRAIN_CAP),
    (r"torchrun/train\.sh\b", "trainer.max_steps=3"),
    (r"seqgen-eval\b.*\brecognizer=", "legibility_lines=8"),
    (r"seqgen-eval\b.*\bdynamic=tune", "dynamic_eval.grid.lr=[2e-4] dynamic_eval.grid.segment_length=[50]"),  # 3 of the 18 settings
    (r"seqgen-serve\b", "port=0"),  # a free port: other suites may be serving on 8000
    (r"benchmarks/demo\.py\b", "--repeats 1"),
    (r"benchmarks/contention\.py\b", "--seconds 3 --families text --settings 1 --loads 0 --data-dir data"),
    (r"benchmarks/page_layout\.py\b", "--seeds 1"),
    (r"benchmarks/recognizer\.py\b", "--lines 8"),
]
# `seqgen-sample` takes its family's options only, so its cap follows the run's family.
SAMPLE_CAPS = {"text": "length=60", "handwriting": "max_points=400", "speech": "max_frames=80", "atari": "length=12"}
# `make` targets: the budget as the Makefile's own variables. `-o <stamp>`: the suite runs inside the
# installed .venv; `setup` must not reinstall it from a temporary folder.
MAKE_ARGS = {
    "run": f"TRAIN_ARGS='{TRAIN_CAP}'",
    "demo": f"TRAIN_ARGS='{TRAIN_CAP}' SERVE_ARGS=port=0",
}
# Files a reader is assumed to have (the docs name them as examples of their own input): an
# absolute path is a placeholder, replaced by the file written into the checkout's user/ folder.
ARCHES = " ".join(f"{x},{100 - 40 * abs(((x % 40) - 20) / 20):.0f}" for x in range(0, 640, 4))
USER_FILES = {
    "/path/to/input.txt": "It was the best of times, it was the worst of times, it was the age of wisdom.\n" * 300,
    "me.svg": f'<svg xmlns="http://www.w3.org/2000/svg"><polyline points="{ARCHES}"/></svg>\n',
}
# Documents that continue from another one: commands of the README a reader has run first.
LEGIBILITY_RUNS = [  # the README's legibility block: run folders other documents name before training them
    ".venv/bin/seqgen-prepare data=handwriting_hershey_sparse",
    ".venv/bin/seqgen-train experiment=recognizer_sparse hydra.run.dir=outputs/recognizer_sparse",
    ".venv/bin/seqgen-train experiment=handwriting_synthesis_10min hydra.run.dir=outputs/synthesis_10min",
]
PRELUDE = {
    "docs/text.md": ["make run"],
    "docs/benchmarks.md": ["make demo", *LEGIBILITY_RUNS],
    "docs/handwriting.md": LEGIBILITY_RUNS,  # its page-layout section samples outputs/synthesis_10min
    "docs/demo.md": LEGIBILITY_RUNS,  # best-of-N serves outputs/synthesis_10min with outputs/recognizer_sparse
}


@dataclass(frozen=True)
class DocCommand:
    doc: str
    line: int  # where the command starts in the document
    block: int  # index of its ```bash block in the document
    text: str  # continuation lines joined, comment dropped, spaces collapsed

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def strip_comment(line: str) -> str:
    """`line` without its shell comment (a `#` at a word start outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def doc_commands(doc: str, text: Optional[str] = None) -> list[DocCommand]:
    """The commands of the ```bash blocks of `doc` (a path relative to the repository), in order."""
    lines = (text if text is not None else (REPO / doc).read_text()).splitlines()
    commands: list[DocCommand] = []
    block, in_block, pending, start = -1, False, "", 0
    for number, raw in enumerate(lines, 1):
        if raw.strip().startswith("```"):
            in_block = not in_block and raw.strip() == "```bash"
            block += in_block
            continue
        if not in_block:
            continue
        code = strip_comment(raw)
        if not pending:
            start = number
        continuing = code.endswith("\\")
        pending += " " + (code[:-1] if continuing else code)
        if not continuing:
            if pending.strip():
                commands.append(DocCommand(doc, start, block, " ".join(pending.split())))
            pending = ""
    return commands


def all_commands() -> list[DocCommand]:
    return [command for doc in DOCS for command in doc_commands(doc)]


def not_run_reason(command: DocCommand) -> Optional[str]:
    return next((reason for reason, texts in NOT_RUN.items() if command.text in texts), None)


def caps_for(command: str, family: Optional[str]) -> str:
    """The overrides appended to `command` (after its placeholders are filled)."""
    if re.search(r"seqgen-sample\b", command):
        return SAMPLE_CAPS.get(family or "", "")
    return next((cap for pattern, cap in CAPS if re.search(pattern, command)), "")


def make_target(command: str) -> Optional[str]:
    tokens = shlex.split(command)
    return tokens[1] if tokens[0] == "make" and len(tokens) == 2 else None


# --- the default suite: extraction, coverage, every config as written -------------------------
def test_extraction_joins_continuations_and_drops_comments() -> None:
    text = "\n".join([
        "Intro.", "```bash",
        ".venv/bin/seqgen-train a=1 \\", "    b='x # y'   # why", "# a comment line", "make run   # run",
        "```", "```yaml", "not: a command", "```", "```bash", "seqgen-eval ckpt=<run>", "```",
    ])
    found = doc_commands("x.md", text)
    assert [(c.line, c.block, c.text) for c in found] == [
        (3, 0, ".venv/bin/seqgen-train a=1 b='x # y'"), (6, 0, "make run"), (12, 1, "seqgen-eval ckpt=<run>"),
    ]


def test_every_documented_command_is_run_or_listed() -> None:
    """Each command either runs in `test_documented_commands_run_as_written` or is listed in
    NOT_RUN; a listed command that left the docs is a stale entry."""
    commands = all_commands()
    assert len(commands) > 50 and {c.doc for c in commands} >= {"README.md", "docs/demo.md", "docs/handwriting.md"}
    texts = {c.text for c in commands}
    stale = [t for listed in NOT_RUN.values() for t in listed if t not in texts]
    assert not stale, f"NOT_RUN lists commands the docs no longer have: {stale}"
    unknown = []
    for command in commands:
        if not_run_reason(command):
            continue
        first = shlex.split(command.text)[0]
        if not (first == "make" or first.startswith((".venv/bin/", "cluster/"))):
            unknown.append(f"{command.where}: {command.text}")
    assert not unknown, "commands neither run (.venv/bin/..., make, cluster/...) nor listed in NOT_RUN:\n" + "\n".join(unknown)
    for doc, prelude in PRELUDE.items():
        assert doc in DOCS and all(text in texts for text in prelude), f"PRELUDE of {doc} names a command the docs lack"


def test_every_documented_seqgen_command_composes_and_validates(tmp_path: Path) -> None:
    """The configuration each command builds, checked as the command checks it before any work."""
    checked = 0
    for command in all_commands():
        try:
            checked += compose_command(PLACEHOLDER_RUN.sub("outputs/train/runs/RUN", command.text), tmp_path) is not None
        except Exception as err:  # noqa: BLE001 - any failure is the documented command's failure
            raise AssertionError(f"{command.where}: {command.text}\n  {type(err).__name__}: {err}") from err
    assert checked > 30


# --- slow: every command run as written --------------------------------------------------------
# dark pixels (ink) on the demo's canvas
INK_JS = """() => {
  const c = document.getElementById('sheet');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 128 && d[i + 1] < 128 && d[i + 2] < 128) n++;
  return n;
}"""
CHECKOUT_LINKS = (".venv", "Makefile", "pyproject.toml", "benchmarks", "cluster", "conf", "sweeps", "tests")  # tests: docs name test files to run
PREPARED: set[str] = set()  # prepare commands already run into the shared data folder this session
SUMMARIES_RUN: set[tuple[str, str]] = set()  # (family, model class) whose printed next commands ran


class Reader:
    """A reader following one document in a folder laid out like a checkout."""

    def __init__(self, doc: str, checkout: Path, data: Path) -> None:
        self.doc, self.checkout = doc, checkout
        checkout.mkdir(parents=True)
        for name in CHECKOUT_LINKS:
            (checkout / name).symlink_to(REPO / name)
        (checkout / "data").symlink_to(data)
        (checkout / "user").mkdir()
        self.runs: list[tuple[DocCommand, Path]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SEQGEN_")}
        self.log: list[str] = []

    # placeholders -------------------------------------------------------------------------------
    def run_for(self, command: DocCommand, kind: Optional[str]) -> Path:
        same_block = [r for c, r in reversed(self.runs) if c.block == command.block and c.doc == command.doc]
        earlier = [r for c, r in reversed(self.runs)]
        for run in [*same_block, *earlier]:
            if kind is None or kind in next(c.text for c, r in self.runs if r == run):
                return run
        raise AssertionError(f"{command.where}: no earlier command printed a {kind or ''} run folder for: {command.text}")

    def fill(self, command: DocCommand) -> str:
        text = PLACEHOLDER_RUN.sub(lambda m: str(self.run_for(command, m.group(1))), command.text)
        for name, content in USER_FILES.items():
            if name in text:
                path = self.checkout / ("user" if name.startswith("/") else "") / Path(name).name
                if not path.exists():  # written once: a prepared corpus's folder key includes its mtime
                    path.write_text(content)
                text = text.replace(name, str(path)) if name.startswith("/") else text
        return text

    def family_of_ckpt(self, text: str) -> Optional[str]:
        from omegaconf import OmegaConf

        match = re.search(r"\bckpt=(\S+)", text)
        config = (self.checkout / match.group(1) / "config_resolved.yaml") if match else None
        return str(OmegaConf.load(config).data.family) if config is not None and config.is_file() else None

    # running ------------------------------------------------------------------------------------
    def follow(self, command: DocCommand) -> None:
        text = self.fill(command)
        target = make_target(text)
        if target is not None:
            text = f"make -o .venv/.seqgen-installed {target} {MAKE_ARGS.get(target, '')}"
        else:
            text = f"{text} {caps_for(text, self.family_of_ckpt(text))}".strip()
        if re.search(r"seqgen-prepare\b", text) and "paths.data_dir=" not in text:
            if text in PREPARED:
                return  # idempotent, and already run into the shared data folder this session
            PREPARED.add(text)
        start = time.monotonic()
        if target == "demo" or re.search(r"seqgen-serve\b", text):
            output = self.serve(command, text, browser=target == "demo")
        else:
            output = self.shell(command, text)
        self.log.append(f"{time.monotonic() - start:7.1f} s  {command.where}: {text}")
        for folder in RUN_FOLDER.findall(output):
            self.runs.append((command, (self.checkout / folder).resolve()))
        self.follow_summary(command, output)

    def follow_summary(self, command: DocCommand, output: str) -> None:
        """The next commands `seqgen-train` printed, run as printed (once per family and model class)."""
        lines = output.splitlines()
        if "[seqgen] next:" not in lines:
            return
        run = self.runs[-1][1]
        identity = json.loads((run / "metrics.json").read_text())
        key = (identity["family"], identity["model_class"])
        if key in SUMMARIES_RUN:
            return
        SUMMARIES_RUN.add(key)
        start = lines.index("[seqgen] next:") + 1
        printed = [line.strip() for line in lines[start:] if line.startswith("  ")]
        assert printed, f"{command.where}: an empty list of next commands"
        for text in printed:
            self.follow(DocCommand(f"{command.doc} (printed by seqgen-train)", command.line, command.block, text))

    def shell(self, command: DocCommand, text: str) -> str:
        proc = subprocess.run(["bash", "-c", text], cwd=self.checkout, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=COMMAND_TIMEOUT_S)
        check_output(command, text, proc.stdout, proc.returncode)
        return proc.stdout

    def serve(self, command: DocCommand, text: str, browser: bool) -> str:
        """Start the server (through make for `make demo`), wait for its URL, use it, stop it."""
        proc = subprocess.Popen(["bash", "-c", f"exec {text}"], cwd=self.checkout, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines: list[str] = []
        try:
            url = wait_for_url(proc, lines)
            check_output(command, text, "".join(lines), 0 if url else proc.poll())
            assert url, f"{command.where}: the server printed no URL:\n{''.join(lines)[-3000:]}"
            import httpx

            info = httpx.get(f"{url}/api/info", timeout=60).json()
            assert info["styles"] and info["vocab"], info
            if browser:
                write_in_chromium(url)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                rest, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rest, _ = proc.communicate()
        lines.append(rest or "")
        check_output(command, text, "".join(lines), 0)
        return "".join(lines)


def wait_for_url(proc: subprocess.Popen, lines: list[str]) -> Optional[str]:
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            return None  # the server exited
        lines.append(line)
        match = SERVING.search(line)
        if match:
            return match.group(1)
    return None


def check_output(command: DocCommand, text: str, output: str, status: Optional[int]) -> None:
    if status != 0 or "Traceback (most recent call last)" in output:
        raise AssertionError(f"{command.where}: `{text}` exited with status {status}:\n{output[-6000:]}")


def write_in_chromium(url: str) -> None:
    """The demo page in a real headless chromium: type, write, and find ink on the canvas."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install playwright")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM}: `make system-deps` (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(url)
            page.wait_for_selector("body[data-state=idle]")
            page.fill("#text", "hello")
            page.click("#write")
            page.wait_for_selector("body[data-state=done]")
            assert page.evaluate(INK_JS) > 30
        finally:
            browser.close()


@pytest.fixture(scope="session")
def doc_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for every document: a corpus is prepared once."""
    return tmp_path_factory.mktemp("doc-data")


@pytest.mark.slow
@pytest.mark.timeout(3 * COMMAND_TIMEOUT_S)
@pytest.mark.parametrize("doc", [doc for doc in DOCS if doc_commands(doc)])
def test_documented_commands_run_as_written(doc: str, doc_data: Path, tmp_path: Path) -> None:
    reader = Reader(doc, tmp_path / "checkout", doc_data)
    readme = {c.text: c for c in all_commands()}
    try:
        for text in PRELUDE.get(doc, []):
            reader.follow(readme[text])
        for command in doc_commands(doc):
            if not not_run_reason(command):
                reader.follow(command)
    finally:
        print(f"\n{doc}:\n" + "\n".join(reader.log))
