# Text documents for the OCR and orientation models: the real sentences of sentences.py typeset with Pillow's bundled
# FreeType font (a rendering, so synthetic pixels of real text; scikit-image's page/text scans are the real scans).
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def render(lines, size=20, width_chars=44, margin=16, ink=(20, 20, 20), paper=(245, 243, 236), seed=0):
    """An RGB uint8 page with `lines` (sentences) wrapped at `width_chars` characters, font size `size`, dark ink on
    light paper, plus mild sensor noise (sigma 3 grey levels) so that the page is not perfectly flat."""
    font = ImageFont.load_default(size=size)
    wrapped = [w for line in lines for w in textwrap.wrap(line, width_chars)]
    line_h = int(size * 1.5)
    text_w = max(int(font.getlength(w)) for w in wrapped)
    img = Image.new("RGB", (text_w + 2 * margin, line_h * len(wrapped) + 2 * margin), paper)
    draw = ImageDraw.Draw(img)
    for i, w in enumerate(wrapped):
        draw.text((margin, margin + i * line_h), w, font=font, fill=ink)
    arr = np.asarray(img).astype(np.float32)
    arr += np.random.default_rng(seed).normal(0.0, 3.0, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def documents(sentence_list, per_page, seed):
    """Pages of `per_page` consecutive sentences each, with varied font size, line width and ink/paper tones."""
    rng = np.random.default_rng(seed)
    pages = []
    for start in range(0, len(sentence_list) - per_page + 1, per_page):
        size = int(rng.integers(16, 29))
        width = int(rng.integers(30, 56))
        ink = tuple(int(v) for v in rng.integers(0, 70, size=3))
        paper = tuple(int(v) for v in rng.integers(215, 256, size=3))
        pages.append(render(sentence_list[start:start + per_page], size, width, ink=ink, paper=paper,
                            seed=int(rng.integers(1 << 30))))
    return pages
