"""Real photos for the OCR dev set: text placed on them (signs, labels, shop fronts, painted
words) with perspective, blur, JPEG loss and contrasts from stark to faint; pages scanned or
photographed; and the text-free photos chosen from the reference captions.

Photos are read from the shared datasets and never copied into the repository: the dev set's
text-free samples are referenced by path, and a photo with text placed on it lives only in
the dev-set folder outside git.
"""

from __future__ import annotations

import io
import math
import random
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from benchmarks import text_content as content
from benchmarks.text_render import SIGN_FAMILIES, Sheet, font

# A photo is "text-free" only if none of its reference captions mentions something that
# usually carries text. Broad on purpose: a photo wrongly kept costs a false alarm that is
# not one, a photo wrongly dropped costs nothing (there are plenty).
TEXT_THINGS = (
    # text itself
    "sign",
    "signage",
    "text",
    "word",
    "writing",
    "written",
    "writes",
    "says",
    "reads",
    "reading",
    "letter",
    "lettering",
    "number",
    "numbered",
    "logo",
    "brand",
    "graffiti",
    # things printed on
    "poster",
    "banner",
    "billboard",
    "advertisement",
    "ad",
    "menu",
    "book",
    "newspaper",
    "magazine",
    "paper",
    "document",
    "map",
    "calendar",
    "card",
    "receipt",
    "ticket",
    "label",
    "sticker",
    "package",
    "box",
    "boxe",
    "can",
    "bottle",
    "cake",
    "plate",
    "license",
    # screens and boards
    "screen",
    "computer",
    "laptop",
    "monitor",
    "television",
    "tv",
    "phone",
    "cellphone",
    "keyboard",
    "display",
    "scoreboard",
    "chalkboard",
    "whiteboard",
    "blackboard",
    "clock",
    # clothes with numbers or print
    "jersey",
    "shirt",
    "t-shirt",
    "tshirt",
    "uniform",
    "bib",
    # places and vehicles that nearly always carry some
    "shop",
    "store",
    "storefront",
    "restaurant",
    "cafe",
    "street",
    "station",
    "stop",
    "bus",
    "buse",
    "train",
    "truck",
    "race",
    "racing",
    "marathon",
    "competition",
    "stadium",
    "crowd",
)
TEXT_WORDS = re.compile(r"\b(" + "|".join(TEXT_THINGS) + r")s?\b", re.IGNORECASE)


def mentions_text(captions: list[str]) -> bool:
    return any(TEXT_WORDS.search(c) for c in captions)


def read_captions(token_file: Path) -> dict[str, list[str]]:
    """``IMAGE#N<TAB>caption`` lines → {image: [captions]}."""
    captions: dict[str, list[str]] = defaultdict(list)
    for line in token_file.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, caption = line.split("\t", 1)
            captions[key.rsplit("#", 1)[0]].append(caption)
    return captions


def text_free(names: list[str], captions: dict[str, list[str]]) -> list[str]:
    return [n for n in names if captions.get(n) and not mentions_text(captions[n])]


def photo_pools(flickr8k: Path, coco: Path, seed: int) -> tuple[list[Path], list[Path]]:
    """(backgrounds, text-free photos), both fixed by the seed and disjoint.

    The Flickr8k dev photos none of whose captions mentions text are shuffled and halved:
    the first half carries the placed text, the second is text-free; the coco-ood-dev photos
    that pass the same test are text-free too. The text-free list interleaves the two
    sources in proportion, so any prefix of it (the --small set) has both."""
    dev = [n.strip() for n in (flickr8k / "Flickr_8k.devImages.txt").read_text().split()]
    flickr = text_free(sorted(dev), read_captions(flickr8k / "Flickr8k.token.txt"))
    rng = random.Random(f"{seed}:photos")
    rng.shuffle(flickr)
    half = len(flickr) // 2
    backgrounds = [flickr8k / "Flicker8k_Dataset" / n for n in flickr[:half]]
    free_flickr = [flickr8k / "Flicker8k_Dataset" / n for n in flickr[half:]]
    coco_captions = read_captions(coco / "captions.token.txt")
    free_coco = [coco / "images" / n for n in text_free(sorted(coco_captions), coco_captions)]
    rng.shuffle(free_coco)
    ranked = [((i + 0.5) / len(free_flickr), 0, p) for i, p in enumerate(free_flickr)]
    ranked += [((i + 0.5) / len(free_coco), 1, p) for i, p in enumerate(free_coco)]
    return backgrounds, [p for *_, p in sorted(ranked)]


# -- geometry and camera effects --------------------------------------------------------------


def perspective_coefficients(dst, src) -> list[float]:
    """Image.transform's PERSPECTIVE data mapping the output quad ``dst`` onto ``src``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def paste_warped(base: Image.Image, overlay: Image.Image, quad) -> Image.Image:
    """``overlay`` (RGBA) warped onto the corners ``quad`` (top-left, top-right,
    bottom-right, bottom-left) of ``base``."""
    w, h = overlay.size
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    warped = overlay.transform(
        base.size,
        Image.Transform.PERSPECTIVE,
        perspective_coefficients(quad, src),
        Image.Resampling.BICUBIC,
    )
    out = base.convert("RGBA")
    out.alpha_composite(warped)
    return out.convert("RGB")


def tilted_quad(
    rng: random.Random,
    w: float,
    h: float,
    cx: float,
    cy: float,
    tilt: float,
    rotate: float,
    jitter: float,
):
    """A w x h rectangle seen at an angle: one side shortened by ``tilt``, turned by
    ``rotate`` degrees, corners moved by up to ``jitter`` of the short side."""
    near = 1 + tilt / 2
    far = 1 - tilt / 2
    if rng.random() < 0.5:
        near, far = far, near
    if rng.random() < 0.7:  # turned left or right (one vertical side shorter)
        corners = [
            (-w / 2, -h / 2 * near),
            (w / 2, -h / 2 * far),
            (w / 2, h / 2 * far),
            (-w / 2, h / 2 * near),
        ]
    else:  # seen from below or above
        corners = [
            (-w / 2 * far, -h / 2),
            (w / 2 * far, -h / 2),
            (w / 2 * near, h / 2),
            (-w / 2 * near, h / 2),
        ]
    a = math.radians(rotate)
    j = jitter * min(w, h)
    return [
        (
            cx + x * math.cos(a) - y * math.sin(a) + rng.uniform(-j, j),
            cy + x * math.sin(a) + y * math.cos(a) + rng.uniform(-j, j),
        )
        for x, y in corners
    ]


def inside(quad, size, margin: float) -> bool:
    return all(margin <= x <= size[0] - margin and margin <= y <= size[1] - margin for x, y in quad)


def add_noise(image: Image.Image, rng: random.Random, sigma: float) -> Image.Image:
    if sigma <= 0:
        return image
    noise_rng = np.random.default_rng(rng.getrandbits(64))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + noise_rng.normal(0, sigma, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def lighting(image: Image.Image, rng: random.Random, darkest: float) -> Image.Image:
    """Uneven light: brightness falling linearly to ``darkest`` across a random direction."""
    w, h = image.size
    a = rng.uniform(0, 2 * math.pi)
    xs, ys = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    ramp = xs * math.cos(a) + ys * math.sin(a)
    ramp = (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
    gain = darkest + (1 - darkest) * ramp
    pixels = np.asarray(image, dtype=np.float32) * gain[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def motion_blur(image: Image.Image, horizontal: bool) -> Image.Image:
    kernel = [0.0] * 25
    for i in range(5):
        kernel[(2 * 5 + i) if horizontal else (i * 5 + 2)] = 0.2
    return image.filter(ImageFilter.Kernel((5, 5), kernel, scale=1))


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def camera(
    image: Image.Image,
    rng: random.Random,
    meta: dict,
    *,
    blur: tuple[float, ...],
    quality: tuple[int, int],
) -> bytes:
    """What a phone camera and a messaging app do: blur (focus or shake), sensor noise,
    JPEG loss. The choices go into ``meta``."""
    radius = rng.choice(blur)
    if radius and rng.random() < 0.25:
        image = motion_blur(image, rng.random() < 0.7)
        meta["blur"] = "motion"
    elif radius:
        image = image.filter(ImageFilter.GaussianBlur(radius))
        meta["blur"] = radius
    sigma = rng.choice((0, 2, 4, 6))
    image = add_noise(image, rng, sigma)
    q = rng.randint(*quality)
    meta.update(noise=sigma, jpeg_quality=q)
    return jpeg(image, q)


# -- pages: scanned or photographed ------------------------------------------------------------


def scan(page: Image.Image, rng: random.Random, meta: dict) -> tuple[bytes, str]:
    """A flatbed scan: paper tone, a slight skew, a little noise; JPEG or PNG, colour or
    grey."""
    tone = rng.choice(((255, 255, 255), (250, 248, 240), (244, 242, 236), (236, 236, 236)))
    image = ImageChops.multiply(page, Image.new("RGB", page.size, tone))
    angle = rng.uniform(-1.2, 1.2)
    image = image.rotate(angle, Image.Resampling.BICUBIC, fillcolor=tone)
    image = add_noise(image, rng, rng.choice((0, 2, 3)))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.choice((0.4, 0.6))))
    grey = rng.random() < 0.4
    if grey:
        image = image.convert("L")
    meta.update(capture="scan", skew=round(angle, 2), grey=grey)
    if rng.random() < 0.35:
        meta["format"] = "png"
        return png(image), "png"
    q = rng.randint(75, 92)
    meta.update(format="jpeg", jpeg_quality=q)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=q)
    return buffer.getvalue(), "jpg"


SURFACES = (
    (150, 105, 70),
    (110, 80, 55),
    (90, 90, 95),
    (200, 200, 195),
    (60, 60, 64),
    (170, 150, 120),
    (40, 70, 60),
)
CAMERA_FRAMES = ((1200, 1600), (1536, 2048), (2268, 3024))


def photograph(page: Image.Image, rng: random.Random, meta: dict) -> tuple[bytes, str]:
    """A phone photo of the page lying on a table: perspective, uneven light, blur, JPEG."""
    fw, fh = rng.choice(CAMERA_FRAMES)
    surface = rng.choice(SURFACES)
    frame = add_noise(Image.new("RGB", (fw, fh), surface), rng, 10)
    ph = fh * rng.uniform(0.74, 0.9)
    pw = ph * page.width / page.height
    small = page.resize((round(pw), round(ph)), Image.Resampling.LANCZOS).convert("RGBA")
    for _ in range(50):
        quad = tilted_quad(
            rng,
            pw,
            ph,
            fw / 2 + rng.uniform(-0.04, 0.04) * fw,
            fh / 2 + rng.uniform(-0.03, 0.03) * fh,
            tilt=rng.uniform(0, 0.12),
            rotate=rng.uniform(-5, 5),
            jitter=0.02,
        )
        if inside(quad, (fw, fh), 4):
            break
        pw, ph = pw * 0.97, ph * 0.97
        small = small.resize((round(pw), round(ph)), Image.Resampling.LANCZOS)
    else:
        raise RuntimeError("no room for the page in the frame")
    image = paste_warped(frame, small, quad)
    darkest = rng.uniform(0.6, 0.95)
    image = lighting(image, rng, darkest)
    meta.update(capture="photo", frame=[fw, fh], light=round(darkest, 2))
    return camera(image, rng, meta, blur=(0, 0.6, 0.9, 1.2), quality=(70, 90)), "jpg"


# -- text on photos ---------------------------------------------------------------------------

# (background, text) colour pairs, from road-sign contrast down to faint paint.
PANELS = (
    ((0, 102, 51), (255, 255, 255)),
    ((0, 51, 153), (255, 255, 255)),
    ((200, 16, 46), (255, 255, 255)),
    ((255, 204, 0), (20, 20, 20)),
    ((250, 250, 250), (15, 15, 15)),
    ((15, 15, 15), (250, 250, 250)),
    ((110, 65, 30), (255, 240, 200)),
    ((30, 30, 60), (255, 215, 0)),
    ((235, 225, 205), (120, 100, 75)),
    ((90, 90, 90), (190, 190, 190)),
    ((40, 60, 90), (140, 160, 190)),
    ((200, 200, 205), (110, 110, 118)),
)
BACKGROUND_SIZES = ((640, 480), (800, 600), (1024, 768), (768, 1024), (1024, 1024), (1280, 960))


def _luminance(rgb) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a, b) -> float:
    """WCAG contrast ratio of two colours (1 = none, 21 = black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on_photo(photo: Path, rng: random.Random) -> tuple[bytes, list[str], dict]:
    """The photo, enlarged to a camera-like size, with a sign, label or painted words on it:
    (JPEG bytes, truth lines, what was done)."""
    size = rng.choice(BACKGROUND_SIZES)
    with Image.open(photo) as im:
        base = im.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    lines = content.sign(rng)
    style = rng.choices(("panel", "label", "bare"), (0.55, 0.2, 0.25))[0]
    family = rng.choice(SIGN_FAMILIES)
    bold = style != "label" or rng.random() < 0.5
    upper = style == "panel" and rng.random() < 0.3
    lines = [line.upper() for line in lines] if upper else lines
    short = min(size)
    px = rng.uniform(max(18, 0.035 * short), 0.1 * short)  # final text size in pixels
    k = 3  # drawn at 3x and reduced, as a camera sees a sharp sign
    outlined = style == "bare" and rng.random() < 0.5  # as painted or sticker text often is
    for _ in range(30):
        face = font(family, round(px * k), bold)
        stroke = max(2, round(face.size * 0.06)) if outlined else 0
        pad = face.size * (0.5 if style != "bare" else 0.15)
        lh = face.size * 1.25
        # The lines' real ink boxes (centred, from each line's ascender), so that nothing
        # is drawn past the sign's edge.
        boxes = [face.getbbox(line, anchor="ma", stroke_width=stroke) for line in lines]
        top = pad - min(0, min(b[1] for b in boxes))
        sw = 2 * (max(max(-b[0], b[2]) for b in boxes) + pad)
        sh = top + max(i * lh + b[3] for i, b in enumerate(boxes)) + pad
        if sw / k <= 0.8 * size[0] and sh / k <= 0.6 * size[1]:
            break
        px *= 0.9
    w, h = sw / k, sh / k
    for _ in range(50):
        tilt = rng.uniform(0, 0.3)
        rotate = rng.uniform(-12, 12)
        quad = tilted_quad(
            rng,
            w,
            h,
            rng.uniform(w / 2, size[0] - w / 2),
            rng.uniform(h / 2, size[1] - h / 2),
            tilt,
            rotate,
            0.04,
        )
        if inside(quad, size, 6):
            break
        w, h = w * 0.95, h * 0.95
    else:
        raise RuntimeError(f"no room for the sign on {photo}")
    px *= w / (sw / k)  # the text size as it ended up, after any shrinking to fit
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    region = base.crop((int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1))
    under = tuple(int(v) for v in np.asarray(region).reshape(-1, 3).mean(axis=0))
    if style == "panel":
        panel, ink = rng.choice(PANELS)
    elif style == "label":
        panel = rng.choice(((250, 250, 245), (255, 250, 230), (240, 240, 240)))
        ink = rng.choice(((20, 20, 20), (40, 40, 120), (150, 20, 20)))
    else:  # painted or printed straight on the scene: light or dark, whichever stands out
        panel = None
        light = _luminance(under) < 0.35
        ink = rng.choice(((255, 255, 255), (255, 230, 90))) if light else (20, 20, 20)
    sheet = Sheet.new((math.ceil(sw), math.ceil(sh)), (*(panel or ink), 0), mode="RGBA")
    if panel:
        sheet.draw.rounded_rectangle(
            (0, 0, sheet.image.width - 1, sheet.image.height - 1),
            radius=round(face.size * rng.choice((0, 0.15, 0.3))),
            fill=(*panel, 255),
        )
        if rng.random() < 0.35:
            inset = round(face.size * 0.15)
            sheet.draw.rounded_rectangle(
                (inset, inset, sheet.image.width - 1 - inset, sheet.image.height - 1 - inset),
                radius=round(face.size * 0.2),
                outline=(*ink, 255),
                width=max(2, round(face.size * 0.06)),
            )
    outline = {}
    if stroke:
        dark = ink == (20, 20, 20)
        outline = {
            "stroke_width": stroke,
            "stroke_fill": (235, 235, 235, 255) if dark else (10, 10, 10, 255),
        }
    for i, line in enumerate(lines):
        sheet.text((sheet.image.width / 2, top + i * lh), line, face, (*ink, 255), "ma", **outline)
    sign = sheet.image.resize((max(1, round(w)), max(1, round(h))), Image.Resampling.LANCZOS)
    image = paste_warped(base, sign, quad)
    meta = {
        "source": str(photo),
        "style": style,
        "font": family.name,
        "size": list(size),
        "text_px": round(px, 1),
        "tilt": round(tilt, 2),
        "rotate": round(rotate, 1),
        "contrast": round(contrast_ratio(panel or under, ink), 2),
    }
    if rng.random() < 0.5:
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.15))
    if rng.random() < 0.4:
        image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.6, 1.0))
    data = camera(image, rng, meta, blur=(0, 0, 0.6, 1.0, 1.5), quality=(30, 90))
    return data, sheet.truth(), meta
