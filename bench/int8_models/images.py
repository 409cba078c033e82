# Real photographs and scans that scikit-image and scikit-learn ship inside their wheels (no downloads), as RGB uint8.
import numpy as np

# skimage.data names -> what they show. All are in the scikit-image wheel (skimage/data/); 'eagle' etc. that need
# pooch downloads are not used.
SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry", "hubble_deep_field",
                  "coins", "clock", "moon", "brick", "grass", "gravel", "cell", "colorwheel"]
SKIMAGE_TEXT = ["page", "text"]          # a scanned book page and a photo of painted text
SKLEARN_PHOTOS = ["china.jpg", "flower.jpg"]


def rgb(image):
    """Any skimage/sklearn image (gray, bool, RGBA, float in [0, 1]) as HxWx3 uint8."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def skimage_image(name):
    import skimage.data
    return rgb(getattr(skimage.data, name)())


def sklearn_image(name):
    from sklearn.datasets import load_sample_images
    data = load_sample_images()
    for fname, image in zip(data.filenames, data.images):
        if fname.endswith(name):
            return rgb(image)
    raise KeyError(f"scikit-learn sample image '{name}' not found")


def image(name):
    """One named real image: a skimage.data name or a scikit-learn sample image file name (china.jpg)."""
    return sklearn_image(name) if name.endswith(".jpg") else skimage_image(name)


def crops(img, count, min_frac=0.55, seed=0):
    """`count` deterministic sub-windows of `img` (each side 55-100 % of the original, random position): more
    samples from one real photograph, each still a natural image."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    out = []
    for _ in range(count):
        fh, fw = rng.uniform(min_frac, 1.0, size=2)
        ch, cw = max(8, int(h * fh)), max(8, int(w * fw))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        out.append(np.ascontiguousarray(img[y:y + ch, x:x + cw]))
    return out
