#!/usr/bin/python3
"""Differential test of `naclip tokenize` against the reference tokenizer.

The golden cases pin down known inputs; this test throws a few hundred
seeded random strings at both tokenizers and requires identical ids. The
strings are built from atoms that exercise each step of CLIP's tokenizer
(clip/simple_tokenizer.py): HTML entities (also double-escaped), terminal
escapes and control characters, Latin ligatures and digraphs, full-width forms, curly
quotes, CR/CRLF and other line breaks, Unicode whitespace, decomposed
accents (NFC), case mappings with special rules (final sigma, dotted I,
sharp s), the split pattern's contractions, letters, single digits and
symbol runs, the special tokens in any case, and many scripts and emoji.

Exit status: 0 all equal, 1 a difference (the first 5 are printed with
both id lists), 77 (meson SKIP) while the tool has no tokenize command.
    tokenizer_diff.py [--count N] [--seed S]
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
from tokenizer import Tokenizer  # noqa: E402

SKIP = 77

ATOMS = [
    # words, digits, punctuation, contractions
    "a", "photo", "of", "the", "cat", "Dog", "PERSON", "traffic light",
    "x", "123", "2024", "3.14", "1,000", "!!", "...", "?", "(", ")", "-",
    "_", "@#$", "a/b", "e-mail", "it's", "IT'S", "they're", "we've", "I'm",
    "you'll", "he'd", "can't", "o'clock", "'s", "''",
    # HTML entities, also double-escaped
    "&amp;", "&lt;b&gt;", "&quot;q&quot;", "&#39;", "&#x27;", "&nbsp;",
    "&amp;amp;", "&eacute;", "&copy;", "&notanentity;", "a&b", "<tag>",
    # terminal escapes, control characters, line breaks
    "\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x07", "\x0b", "\x7f", "\x1f",
    "\r\n", "\r", "\n", "\t", "\u2028", "\u2029", "\u0085", "\x0c",
    # Unicode whitespace and zero-width characters
    "\u00a0", "\u3000", "\u2003", "\u200b", "\u200d", "\ufeff", "\u2060",
    # ligatures, digraphs, full-width and half-width forms
    "\ufb01", "\ufb02", "\ufb00", "\ufb03", "\u01c5", "\u01c4", "\u0132",
    "\u0149", "\u01f2", "\uff26\uff55\uff4c\uff4c", "\uff10\uff19",
    "\uff01", "\uff5e", "\uff61", "\uff76", "\uffe5",
    # quotes and dashes
    "\u201csmart\u201d", "\u2018single\u2019", "\u201b", "\u02bc",
    "\u2014", "\u2013", "\u2026", "\u00ab\u00bb",
    # accents, precomposed and decomposed; case mappings
    "caf\u00e9", "cafe\u0301", "n\u0303", "A\u030a", "\u00c5", "\u212b",
    "\u00df", "STRASSE", "\u1e9e", "\u0130stanbul", "I", "\u0131",
    "\u039f\u0394\u039f\u03a3", "\u03a3\u03c3", "\u03a3", "\u00d1",
    "\u01c6", "\u0149",
    # scripts
    "\u65e5\u672c\u8a9e", "\u4e2d\u6587", "\ud55c\uad6d\uc5b4",
    "\u041f\u0440\u0438\u0432\u0435\u0442", "\u0393\u03b5\u03b9\u03ac",
    "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd",
    "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0e44\u0e17\u0e22",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8",
    # numbers and symbols outside ASCII
    "\u00bd", "\u00b2", "\u2167", "\u0663", "\u096b", "\u2211\u222b",
    "\u2264", "\u20ac", "\u00a9", "\u2122", "\u00b0C",
    # emoji: single, ZWJ sequences, modifiers, flags, keycaps
    "\U0001f431", "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7",
    "\U0001f3f3\ufe0f\u200d\U0001f308", "1\ufe0f\u20e3", "\u2764\ufe0f",
    # special tokens, any case
    "<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>", "<|endoftext",
    "<|startoftext|>x",
]
SEPARATORS = ["", " ", " ", " ", "  ", "\t", "\n"]


def random_texts(count, seed):
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        n = int(rng.integers(1, 9))
        parts = []
        for _ in range(n):
            parts.append(ATOMS[int(rng.integers(len(ATOMS)))])
            parts.append(SEPARATORS[int(rng.integers(len(SEPARATORS)))])
        text = "".join(parts)
        if rng.random() < 0.2:
            text = text.upper()
        if rng.random() < 0.1:
            text = "  " + text + " \n"
        if text.startswith("-"):  # would be taken for an option
            text = "x" + text
        texts.append(text)
    return texts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    root = os.environ.get("NACLIP_BUILD_ROOT")
    shared = os.environ.get("NACLIP_SHARED")
    if not root or not shared:
        print("tokenizer_diff: NACLIP_BUILD_ROOT and NACLIP_SHARED must be set")
        return 1
    binary = os.path.join(root, "src", "tool", "naclip")
    if not os.access(binary, os.X_OK):
        print(f"tokenizer_diff: FAIL: the naclip tool is not built at {binary}")
        return 1
    usage = subprocess.run([binary, "--help"], capture_output=True, text=True)
    if not re.search(r"^\s+tokenize\s", usage.stdout + usage.stderr, re.M):
        print(f"tokenizer_diff: SKIP: {binary} has no 'tokenize' command yet")
        return SKIP

    merges = os.path.join(shared, "clip", "bpe_simple_vocab_16e6.txt.gz")
    tok = Tokenizer(merges)
    texts = random_texts(args.count, args.seed)
    proc = subprocess.run([binary, "tokenize", "--merges", merges, *texts],
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        print(f"tokenizer_diff: naclip tokenize exited with {proc.returncode}: "
              f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return 1
    lines = proc.stdout.decode().splitlines()
    if len(lines) != len(texts):
        print(f"tokenizer_diff: {len(lines)} output lines for {len(texts)} texts")
        return 1
    differ = []
    for text, line in zip(texts, lines):
        want = [tok.sot] + tok.encode(text) + [tok.eot]
        got = [int(t) for t in line.split()]
        if got != want:
            differ.append((text, got, want))
    for text, got, want in differ[:5]:
        print(f"differs: {text!r}\n  naclip:    {got}\n  reference: {want}")
    print(f"tokenizer_diff: {len(texts) - len(differ)} of {len(texts)} "
          f"random texts tokenized identically")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
