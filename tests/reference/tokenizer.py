"""CLIP's byte-level BPE tokenizer, written from clip/simple_tokenizer.py.

Cleaning reproduces the deterministic fixes of ftfy 6's fix_text, in its
order and repeated until nothing changes (HTML entities, C1 controls as
Windows-1252, Latin ligatures, full-width characters, curly quotes, line
breaks, terminal escapes, control characters, NFC); ftfy's mojibake repair
(fix_encoding) is left out, a documented divergence: "Ã©" stays "Ã©".
Then HTML entities are unescaped twice, whitespace runs become one space,
the text is stripped and lower-cased, split with CLIP's pattern, mapped
byte-wise through GPT-2's byte-to-unicode table and merged by rank.

    tok = Tokenizer(merges_path)          # merges.txt or bpe_simple_vocab_16e6.txt.gz
    tok = Tokenizer(path, n_merges=rows - N_SYMBOLS)  # a model's vocabulary
    tok.encode("a photo of a cat.")       # [320, 1125, ...] without the specials
    tok.tokenize(texts, context=77)       # int64 [n, 77], 49406 ... 49407 0 ...
"""

import gzip
import html
import html.entities
import re
import unicodedata

import regex

N_MERGES = 49152 - 256 - 2  # CLIP's; a model's token-embedding rows minus 514
N_SYMBOLS = 512 + 2  # byte symbols, the same with </w>, start and end of text
SOT, EOT = "<|startoftext|>", "<|endoftext|>"

SPLIT = regex.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
    r"|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+", regex.IGNORECASE)

# ftfy 6's deterministic fixes, as its fix_text applies them. Its tables:
# HTML entities ("&name;" of HTML5, plus upper-cased lower-case names),
HTML_ENTITY = re.compile(r"&#?[0-9A-Za-z]{1,24};")
HTML_ENTITIES = {}
for _name, _char in html.entities.html5.items():
    if _name.endswith(";"):
        HTML_ENTITIES["&" + _name] = _char
        if _name == _name.lower():
            _upper = "&" + _name.upper()
            if html.unescape(_upper) == _upper:
                HTML_ENTITIES[_upper] = _char.upper()
# Latin ligatures and digraphs, split into their letters,
LIGATURES = {ord(k): v for k, v in {
    "\u0132": "IJ", "\u0133": "ij", "\u0149": "\u02bcn", "\u01f1": "DZ",
    "\u01f2": "Dz", "\u01f3": "dz", "\u01c4": "D\u017d", "\u01c5": "D\u017e",
    "\u01c6": "d\u017e", "\u01c7": "LJ", "\u01c8": "Lj", "\u01c9": "lj",
    "\u01ca": "NJ", "\u01cb": "Nj", "\u01cc": "nj", "\ufb00": "ff",
    "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
    "\ufb05": "\u017ft", "\ufb06": "st"}.items()}
# full-width and half-width forms to their ordinary characters,
WIDTH = {0x3000: " "}
WIDTH.update({i: unicodedata.normalize("NFKC", chr(i))
              for i in range(0xFF01, 0xFFF0)
              if unicodedata.normalize("NFKC", chr(i)) != chr(i)})
SINGLE_QUOTES = re.compile("[\u02bc\u2018-\u201b]")
DOUBLE_QUOTES = re.compile("[\u201c-\u201f]")
# C1 controls read as Windows-1252 ("sloppy": undefined bytes stay),
C1_CONTROLS = re.compile("[\x80-\x9f]")
# terminal escape sequences (ESC [ digits/; letter),
TERMINAL_ESCAPE = re.compile("\x1b\\[((?:\\d|;)*)([a-zA-Z])")
# and the control characters it removes (tab, LF, FF, CR, C1, joiners,
# musical and tag characters are kept).
CONTROL = dict.fromkeys(
    list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F]
    + list(range(0x206A, 0x2070)) + [0xFEFF] + list(range(0xFFF9, 0xFFFD)))


def _unescape_entity(match):
    text = match.group(0)
    if text in HTML_ENTITIES:
        return HTML_ENTITIES[text]
    if text.startswith("&#"):
        unescaped = html.unescape(text)
        return text if ";" in unescaped else unescaped
    return text


def _sloppy_cp1252(match):
    try:
        return match.group(0).encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:
        return match.group(0)


def _fix_segment(text, unescape):
    """ftfy's fix_and_explain without fix_encoding: every fix in its order,
    repeated until nothing changes."""
    while True:
        orig = text
        if unescape:
            text = HTML_ENTITY.sub(_unescape_entity, text)
        text = C1_CONTROLS.sub(_sloppy_cp1252, text)
        text = text.translate(LIGATURES)
        text = text.translate(WIDTH)
        text = SINGLE_QUOTES.sub("'", text)
        text = DOUBLE_QUOTES.sub('"', text)
        text = (text.replace("\r\n", "\n").replace("\r", "\n")
                .replace("\u2028", "\n").replace("\u2029", "\n")
                .replace("\u0085", "\n"))
        text = TERMINAL_ESCAPE.sub("", text)
        text = text.translate(CONTROL)
        text = unicodedata.normalize("NFC", text)
        if text == orig:
            return text


def fix_text(text):
    """The deterministic part of ftfy.fix_text (no mojibake repair): the
    text is fixed in segments that end after each newline; HTML unescaping
    is off from the first segment containing '<' on ("auto")."""
    out = []
    unescape = True
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end + 1
        segment = text[pos:end]
        if "<" in segment:
            unescape = False
        out.append(_fix_segment(segment, unescape))
        pos = end
    return "".join(out)


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


def read_merges(path, n_merges=N_MERGES):
    """The first n_merges merges of a merges.txt or bpe_simple_vocab .gz,
    both of which start with one header line; later lines are ignored."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:1 + n_merges]]
    found = sum(1 for m in merges if m)
    if found != n_merges or any(len(m) != 2 for m in merges):
        raise ValueError(f"{path}: expected {n_merges} merges after a header, "
                         f"found {found}")
    return merges


class Tokenizer:
    def __init__(self, merges_path, n_merges=N_MERGES):
        merges = read_merges(merges_path, n_merges)
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
