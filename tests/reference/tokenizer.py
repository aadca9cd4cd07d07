"""CLIP's byte-level BPE tokenizer, written from NACLIP-SPEC section 2.

Cleaning reproduces the deterministic fixes of ftfy's fix_text (HTML
entities, terminal escapes, Latin ligatures, full-width characters, curly
quotes, line breaks, control characters, NFC); ftfy's mojibake repair
(fix_encoding) is left out, a documented divergence: "Ã©" stays "Ã©".
Then HTML entities are unescaped twice, whitespace runs become one space,
the text is stripped and lower-cased, split with CLIP's pattern, mapped
byte-wise through GPT-2's byte-to-unicode table and merged by rank.

    tok = Tokenizer(merges_path)          # merges.txt or bpe_simple_vocab_16e6.txt.gz
    tok.encode("a photo of a cat.")       # [320, 1125, ...] without the specials
    tok.tokenize(texts, context=77)       # int64 [n, 77], 49406 ... 49407 0 ...
"""

import gzip
import html
import unicodedata

import regex

N_MERGES = 49152 - 256 - 2
SOT, EOT = "<|startoftext|>", "<|endoftext|>"

SPLIT = regex.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
    r"|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+", regex.IGNORECASE)

# ftfy: terminal escape sequences (CSI ... final letter).
TERMINAL_ESCAPE = regex.compile(r"\x1b\[((?:\d|;)*)([a-zA-Z])")
# ftfy: Latin ligatures and digraphs, split into their letters.
LIGATURES = {ord(c): unicodedata.normalize("NFKC", c)
             for c in "\u0132\u0133\u0149\u01c4\u01c5\u01c6\u01c7\u01c8"
                      "\u01c9\u01ca\u01cb\u01cc\u01f1\u01f2\u01f3"
                      "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"}
# ftfy: full-width and half-width forms to their ordinary characters.
WIDTH = {0x3000: " "}
WIDTH.update({i: unicodedata.normalize("NFKC", chr(i))
              for i in range(0xFF01, 0xFFF0)
              if unicodedata.normalize("NFKC", chr(i)) != chr(i)})
SINGLE_QUOTES = regex.compile("[\u02bc\u2018-\u201b]")
DOUBLE_QUOTES = regex.compile("[\u201c-\u201f]")
LINE_BREAKS = regex.compile("\r\n|\r|\u2028|\u2029|\u0085")
# ftfy: control characters it removes (tab, LF, FF and CR are kept).
CONTROL = dict.fromkeys(
    list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F]
    + list(range(0x206A, 0x2070)) + [0xFEFF] + list(range(0xFFF9, 0xFFFD))
    + list(range(0x1D173, 0x1D17B)) + list(range(0xE0000, 0xE0080)))


def fix_text(text):
    """The deterministic part of ftfy.fix_text (no mojibake repair)."""
    if "<" not in text or ">" not in text:
        text = html.unescape(text)
    text = TERMINAL_ESCAPE.sub("", text)
    text = text.translate(LIGATURES)
    text = text.translate(WIDTH)
    text = SINGLE_QUOTES.sub("'", text)
    text = DOUBLE_QUOTES.sub('"', text)
    text = LINE_BREAKS.sub("\n", text)
    text = text.translate(CONTROL)
    return unicodedata.normalize("NFC", text)


def clean(text):
    text = fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    text = regex.sub(r"\s+", " ", text).strip()
    return text.lower()


def byte_symbols():
    """GPT-2's byte-to-unicode table: symbols in vocabulary order and the
    byte each stands for."""
    printable = (list(range(ord("!"), ord("~") + 1))
                 + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100)))
    others = [b for b in range(256) if b not in printable]
    order = printable + others
    symbols = [chr(b) for b in printable] + [chr(0x100 + i)
                                             for i in range(len(others))]
    return symbols, order


def read_merges(path):
    """The first N_MERGES merges of a merges.txt or bpe_simple_vocab .gz,
    both of which start with one header line."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:1 + N_MERGES]]
    if len(merges) != N_MERGES or any(len(m) != 2 for m in merges):
        raise ValueError(f"{path}: expected {N_MERGES} merges after a header")
    return merges


class Tokenizer:
    def __init__(self, merges_path):
        merges = read_merges(merges_path)
        symbols, order = byte_symbols()
        self.byte_symbol = {b: s for s, b in zip(symbols, order)}
        words = symbols + [s + "</w>" for s in symbols]
        words += [a + b for a, b in merges]
        words += [SOT, EOT]
        self.ids = {w: i for i, w in enumerate(words)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot, self.eot = self.ids[SOT], self.ids[EOT]
        self.cache = {}

    def bpe(self, piece):
        """piece (byte symbols) -> list of vocabulary words."""
        if piece in (SOT, EOT):
            return [piece]
        if piece in self.cache:
            return self.cache[piece]
        word = list(piece[:-1]) + [piece[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, len(self.ranks)))
            if best not in self.ranks:
                break
            merged = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self.cache[piece] = word
        return word

    def encode(self, text):
        """Token ids of text, without start and end tokens."""
        out = []
        for piece in SPLIT.findall(clean(text)):
            mapped = "".join(self.byte_symbol[b] for b in piece.encode("utf-8"))
            out += [self.ids[w] for w in self.bpe(mapped)]
        return out

    def tokenize(self, texts, context=77, truncate=False):
        """int64 numpy array [len(texts), context]."""
        import numpy as np

        out = np.zeros((len(texts), context), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot] + self.encode(text) + [self.eot]
            if len(ids) > context:
                if not truncate:
                    raise ValueError(f"{text!r}: {len(ids)} tokens, more than "
                                     f"the context length {context}")
                ids = ids[:context]
                ids[-1] = self.eot
            out[row, :len(ids)] = ids
        return out
