# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 06a — The regularization stack on CIFAR-10
#
# Lecture 6, *Regularization in Deep Learning*. You put together the
# regularizers a modern image classifier trains with — data augmentation
# (random crops and flips, RandAugment, random erasing), decoupled weight
# decay that spares biases and normalization parameters, label smoothing and
# early stopping with best-weight restore — and measure on CIFAR-10, over
# several seeds, what augmentation, weight decay and label smoothing change.
#
# **You will be able to**
# 1. build label-preserving augmentation pipelines in the right order;
# 2. set up AdamW with weight decay on the weights that should shrink, and
#    explain why weight decay and L2 differ for Adam;
# 3. stop training when the validation loss stops improving, and keep the
#    best weights;
# 4. run a small experiment over seeds and tell an effect from seed noise.
#
# **How this lab is graded.** Fill in every cell that says
# `raise NotImplementedError()`. The *self-check* cells below each part test
# one fixed example. Your grade comes from hidden checks that call your
# functions with configurations, models and loss sequences you have not
# seen, and compare the results with the reference; one of them runs a short
# training with your sweep. The written questions at the end are graded by
# hand. The experiment and demonstration cells do not count towards the
# grade.
#
# **Profiles.** The same notebook runs in three sizes, chosen by the
# environment variable `REGLAB_PROFILE`: `ci` (seconds; generated images if
# CIFAR-10 is not on disk), `cpu` (a laptop: a few thousand real images, a
# small CNN) and `gpu` (all 50,000 images, a ResNet, mixed precision). Without
# it: `gpu` if there is a CUDA device, else `cpu` if CIFAR-10 is on disk,
# else `ci`. Grading runs in `ci`.

# %% tags=["helpers"]
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.transforms import v2 as T

try:
    import ipywidgets  # noqa: F401  (only for a widget progress bar in Jupyter)
    from tqdm.auto import tqdm
except ImportError:
    from tqdm import tqdm

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)       # per-channel mean and std of the CIFAR-10 training images
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DATA_ROOT = Path(os.environ.get("REGLAB_DATA", "data"))
print("running on", DEVICE, "| torch", torch.__version__, "| torchvision", torchvision.__version__)

# %% [markdown]
# ## 0. Profile and data
#
# The table below comes from the course configuration: how many images each
# profile uses, which network, how many epochs at most, and the grid the
# sweep covers. Read it; do not change it (set `REGLAB_PROFILE` instead).

# %% reglab="profiles" tags=["helpers"]

# %% [markdown]
# CIFAR-10 is looked for under `DATA_ROOT` (the environment variable
# `REGLAB_DATA`, else `./data`), either as torchvision's
# `cifar-10-batches-py/` folder or as an image-folder tree
# `train/<class>/*.png`, `test/<class>/*.png`. The `cpu` and `gpu` profiles
# download it there with `torchvision.datasets.CIFAR10(download=True)` if it
# is missing. The `ci` profile never downloads: without CIFAR-10 on disk it
# draws a learnable CIFAR-shaped set of striped patterns and says so.

# %% tags=["helpers"]
def find_cifar(root):
    """('batches', folder) or ('imagefolder', folder) for a CIFAR-10 copy under ``root``, else None."""
    if (root / "cifar-10-batches-py" / "data_batch_1").is_file():
        return "batches", root
    if all((root / split).is_dir() and any((root / split).glob("*/*.png")) for split in ("train", "test")):
        return "imagefolder", root
    return None


def read_imagefolder(folder):
    """uint8 images (N, 3, 32, 32) and labels from ``folder/<class>/*.png``, classes in CIFAR-10 order."""
    images, labels = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((folder / name).glob("*.png")):
            images.append(torchvision.io.decode_image(torchvision.io.read_file(str(path)),
                                                      mode=torchvision.io.ImageReadMode.RGB))
            labels.append(label)
    if not images:
        raise FileNotFoundError(f"no PNG images under {folder}/<class>/ for the classes {', '.join(CLASSES)}")
    return torch.stack(images), torch.tensor(labels)


def read_cifar_batches(root, train, download=False):
    """uint8 images (N, 3, 32, 32) and labels from torchvision's CIFAR10 (no PIL needed)."""
    dataset = torchvision.datasets.CIFAR10(str(root), train=train, download=download)
    return torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(dataset.targets)


def synthetic_cifar(n, seed):
    """``n`` generated 32x32 colour images in 10 classes, and their labels.

    A class is a striped pattern: one of 5 orientations x 2 stripe widths, in
    one of 5 pairs of colours (each pair shared by two classes), at a random
    phase and contrast, slightly rotated, with pixel noise. Crops, flips and
    RandAugment keep the class, so augmentation and regularization behave
    here roughly as on real images.
    """
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    palette = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.6, 0.9], [0.3, 0.8, 0.3], [0.9, 0.8, 0.2], [0.6, 0.3, 0.8]])
    angle = (labels % 5) * (math.pi / 5) + 0.2 * torch.randn(n, generator=gen)
    cycles = torch.where(labels < 5, 2.5, 4.0) * (1 + 0.15 * torch.randn(n, generator=gen))
    phase = 2 * math.pi * torch.rand(n, generator=gen)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    along = xs * angle.cos()[:, None, None] + ys * angle.sin()[:, None, None]
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * cycles[:, None, None] * along / 32 + phase[:, None, None])
    contrast = 0.3 + 0.7 * torch.rand(n, 1, 1, 1, generator=gen)
    pair = labels // 2
    first, second = palette[pair][:, :, None, None], palette[(pair + 2) % 5][:, :, None, None] * 0.6
    images = second + contrast * stripes[:, None] * (first - second)
    images = images + 0.2 * torch.randn(n, 3, 32, 32, generator=gen)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels


def missing_data_error(root, why):
    return FileNotFoundError(
        f"CIFAR-10 is not under {root.resolve()} and could not be downloaded ({why}). Fix it one of three ways:\n"
        f"  1. connect to the internet and run this cell again: torchvision downloads it (170 MB) to {root};\n"
        f"  2. put a copy there yourself, as {root}/cifar-10-batches-py/ (the 'python version' from "
        "https://www.cs.toronto.edu/~kriz/cifar.html) or as an image-folder tree train/<class>/*.png and "
        "test/<class>/*.png; or set REGLAB_DATA to the folder that holds one;\n"
        "  3. run the quick profile on generated images: set REGLAB_PROFILE=ci before starting Jupyter.")


def load_splits(profile, root=DATA_ROOT):
    """Train / validation / test splits as uint8 image tensors and labels, sized by the profile.

    The validation images are held out of the training images; the test
    images are used once, at the end, for the chosen configuration.
    """
    found = find_cifar(root)
    if found is None and profile["data"] == "download":
        try:
            read_cifar_batches(root, train=True, download=True)
            found = ("batches", root)
        except Exception as exc:  # noqa: BLE001 - no network, a proxy, a full disk...
            raise missing_data_error(root, f"{type(exc).__name__}: {exc}") from None
    if found is None:
        n = profile["n_train"] + profile["n_val"] + profile["n_test"]
        images, labels = synthetic_cifar(n, seed=0)
        source = f"{n} generated images (no CIFAR-10 under {root.resolve()})"
        train = images[:-profile["n_test"]], labels[:-profile["n_test"]]
        test = images[-profile["n_test"]:], labels[-profile["n_test"]:]
    else:
        kind, folder = found
        read = ((lambda train: read_cifar_batches(folder, train)) if kind == "batches"
                else (lambda train: read_imagefolder(folder / ("train" if train else "test"))))
        train, test = read(True), read(False)
        source = f"CIFAR-10 from {folder.resolve()} ({kind})"
    order = torch.randperm(len(train[1]), generator=torch.Generator().manual_seed(0))
    n_val = profile["n_val"]
    n_train = profile["n_train"] or len(order) - n_val
    n_test = profile["n_test"] or len(test[1])
    if n_val + n_train > len(order):
        raise ValueError(f"the profile asks for {n_train} + {n_val} training images; {source} has {len(order)}")
    val_index, train_index = order[:n_val], order[n_val:n_val + n_train]
    where = DEVICE if profile["data_on_device"] else "cpu"
    splits = {"train": (train[0][train_index], train[1][train_index]),
              "val": (train[0][val_index], train[1][val_index]),
              "test": (test[0][:n_test], test[1][:n_test])}
    return {name: (x.to(where), y.to(where)) for name, (x, y) in splits.items()}, source


def default_profile():
    """gpu with a CUDA device; else cpu if CIFAR-10 is on disk; else ci."""
    if torch.cuda.is_available():
        return "gpu"
    return "cpu" if find_cifar(DATA_ROOT) else "ci"


PROFILE_NAME = os.environ.get("REGLAB_PROFILE") or default_profile()
if PROFILE_NAME not in PROFILES:
    raise ValueError(f"REGLAB_PROFILE={PROFILE_NAME!r}; use one of {', '.join(PROFILES)}")
P = PROFILES[PROFILE_NAME]
if P["threads"]:
    torch.set_num_threads(P["threads"])     # ci: one thread, as graded (several notebooks share the machine)
SPLITS, DATA_SOURCE = load_splits(P)
print(f"profile {PROFILE_NAME}: {DATA_SOURCE}")
print("  " + ", ".join(f"{name} {len(y)}" for name, (_, y) in SPLITS.items()),
      f"| model {P['model']} (width {P['width']}) | at most {P['max_epochs']} epochs")

# %% [markdown]
# ## 1. One configuration, `cfg`
#
# Every function you write takes its settings from one small object. Hidden
# checks build their own `cfg` with the same attribute names (sometimes as a
# `types.SimpleNamespace`), so read the settings from `cfg` and nowhere else.
#
# | field | meaning |
# |---|---|
# | `lr` | AdamW learning rate |
# | `weight_decay` | decoupled weight decay of the Linear / Conv weights |
# | `randaugment`, `num_ops`, `magnitude` | add `RandAugment(num_ops, magnitude)` to the training transform |
# | `erasing` | probability of `RandomErasing` (0 = leave it out) |
# | `label_smoothing` | ε of the label-smoothed cross entropy |
# | `patience`, `min_delta` | early stopping: epochs without an improvement larger than `min_delta` |

# %% tags=["helpers"]
@dataclass
class Config:
    lr: float = 3e-3
    weight_decay: float = 0.05
    randaugment: bool = True
    num_ops: int = 2
    magnitude: int = 9
    erasing: float = 0.25
    label_smoothing: float = 0.1
    patience: int = 3
    min_delta: float = 0.0


# %% [markdown]
# ## 2. Augmentation pipelines
#
# Images reach the transforms as `uint8` tensors of shape `(3, 32, 32)` (or a
# small group of them, `(G, 3, 32, 32)`). Use `torchvision.transforms.v2`
# (imported as `T`). Write
#
# * `build_train_transform(cfg)`: `T.RandomCrop(32, padding=4)` (or
#   `T.RandomResizedCrop(32)`), `T.RandomHorizontalFlip()`,
#   `T.RandAugment(num_ops=cfg.num_ops, magnitude=cfg.magnitude)` only when
#   `cfg.randaugment`, then `T.ToDtype(torch.float32, scale=True)`, then
#   `T.RandomErasing(p=cfg.erasing)` only when `cfg.erasing > 0`, and
#   `T.Normalize(CIFAR_MEAN, CIFAR_STD)` last, all in one `T.Compose`.
# * `build_eval_transform(cfg)`: to float and normalize, nothing random.
#
# **Order matters.** RandAugment's colour operations (posterize, solarize,
# equalize) are defined on 8-bit pixels, so they come before the conversion
# to float; `scale=True` maps 0…255 to 0…1, which is what the mean and std
# are for. Random erasing paints a patch on the float image (value 0 before
# normalization), and normalization comes last so every pixel — erased or
# not — is standardized the same way.

# %% reglab="solution" functions=["build_train_transform"]

# %% reglab="solution" functions=["build_eval_transform"]

# %% [markdown]
# **Self-check: the training pipeline** (kinds, order and settings).

# %% reglab="selfcheck" item="train_transform"
def steps_of(pipeline):
    """The steps of a pipeline, nested Compose flattened, without the steps that change nothing (ToImage...)."""
    if isinstance(getattr(pipeline, "transforms", None), (list, tuple)):
        return [step for inner in pipeline.transforms for step in steps_of(inner)]
    return [] if type(pipeline).__name__ in ("ToImage", "ToPureTensor", "Identity") else [pipeline]


STEP = {"RandomCrop": "crop", "RandomResizedCrop": "crop", "RandomHorizontalFlip": "flip", "RandAugment": "RandAugment",
        "ToDtype": "to float", "ConvertImageDtype": "to float", "RandomErasing": "RandomErasing", "Normalize": "Normalize"}
cases = [Config(randaugment=True, num_ops=3, magnitude=7, erasing=0.5), Config(randaugment=False, erasing=0.0),
         Config(randaugment=True, num_ops=1, magnitude=13, erasing=0.0), Config(randaugment=False, erasing=0.35)]
for cfg in cases:
    where = f"(cfg.randaugment={cfg.randaugment}, cfg.erasing={cfg.erasing})"
    steps = steps_of(build_train_transform(cfg))
    unknown = [type(step).__name__ for step in steps if type(step).__name__ not in STEP]
    assert not unknown, f"{where}: {unknown[0]} is not a step of this pipeline; use only a crop, the flip, " \
                        "RandAugment, ToDtype, RandomErasing and Normalize"
    kinds = [STEP[type(step).__name__] for step in steps]
    expected = ["crop", "flip"] + ["RandAugment"] * cfg.randaugment + ["to float"] + ["RandomErasing"] * (cfg.erasing > 0) + ["Normalize"]
    for kind, wanted, setting in (("RandAugment", cfg.randaugment, "cfg.randaugment is False"),
                                  ("RandomErasing", cfg.erasing > 0, "cfg.erasing is 0")):
        assert wanted or kind not in kinds, f"{where}: the pipeline adds {kind} when {setting}; add it only when asked"
        assert not wanted or kind in kinds, f"{where}: the pipeline leaves out {kind}, which this cfg asks for"
    assert sorted(kinds) == sorted(expected), f"{where}: the pipeline has {kinds}; it should have each of {expected} once"
    assert all(k in ("crop", "flip", "RandAugment") for k in kinds[:kinds.index("to float")]) \
        and not any(k in ("crop", "flip", "RandAugment") for k in kinds[kinds.index("to float"):]), \
        f"{where}: crop, flip and RandAugment work on uint8 images; put them before the conversion to float: {kinds}"
    assert kinds[-1] == "Normalize", f"{where}: Normalize must be the last step, after RandomErasing: {kinds}"
    for step, kind in zip(steps, kinds):
        name = type(step).__name__
        if name == "RandomCrop":
            padding = step.padding if isinstance(step.padding, (list, tuple)) else [step.padding]
            assert tuple(step.size) == (32, 32) and all(p == 4 for p in padding), \
                f"{where}: use RandomCrop(32, padding=4): 32 x 32 crops of the image padded by 4 pixels"
        if name == "RandomResizedCrop":
            assert tuple(step.size) == (32, 32), "RandomResizedCrop must give 32 x 32 images: RandomResizedCrop(32)"
        if kind == "flip":
            assert step.p == 0.5, f"flip with probability 0.5 (RandomHorizontalFlip's default), not {step.p}"
        if kind == "RandAugment":
            assert (step.num_ops, step.magnitude) == (cfg.num_ops, cfg.magnitude), \
                f"{where}: RandAugment has num_ops={step.num_ops}, magnitude={step.magnitude} where this cfg asks " \
                f"for {cfg.num_ops} and {cfg.magnitude}: take them from cfg.num_ops and cfg.magnitude"
        if kind == "RandomErasing":
            assert abs(step.p - cfg.erasing) < 1e-9, f"{where}: RandomErasing has p={step.p}; use p=cfg.erasing"
        if kind == "to float":
            assert step.dtype == torch.float32 if name == "ConvertImageDtype" else \
                (step.dtype == torch.float32 and step.scale is True), \
                f"{where}: convert with ToDtype(torch.float32, scale=True), so pixels go from 0..255 to 0..1"
        if kind == "Normalize":
            assert all(len(got := torch.as_tensor(values, dtype=torch.float64).flatten()) == 3
                       and (got - torch.tensor(target, dtype=torch.float64)).abs().max() <= 2e-3
                       for values, target in ((step.mean, CIFAR_MEAN), (step.std, CIFAR_STD))), \
                f"{where}: normalize with the CIFAR-10 statistics, Normalize(CIFAR_MEAN, CIFAR_STD)"
    for images in (torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8), torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)):
        saved, what = images.clone(), "one image" if images.dim() == 3 else "a group of 3 images"
        out = build_train_transform(cfg)(images)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == images.shape, \
            f"{where}: uint8 images {tuple(images.shape)} ({what}) should give float32 images of the same shape; it " \
            f"gave {type(out).__name__} {getattr(out, 'dtype', '')} {tuple(getattr(out, 'shape', ()))}"
        assert torch.isfinite(out).all() and out.abs().max() <= 3, f"{where}: values up to {out.abs().max():.0f}; " \
            "scale to 0..1 (ToDtype(torch.float32, scale=True)) before Normalize"
        assert torch.equal(images, saved), f"{where}: the transform changed the images it was given ({what}); every " \
            "step must return a new tensor and leave its input alone"
print("train_transform: OK")

# %% [markdown]
# **Self-check: the evaluation pipeline is deterministic** and gives what
# torchvision's `ToDtype` and `Normalize` give.

# %% reglab="selfcheck" item="eval_transform"
gen = torch.Generator().manual_seed(0)
for cfg, image in ((Config(randaugment=True, erasing=0.5), torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=gen)),
                   (Config(randaugment=False, erasing=0.0), torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=gen))):
    where = f"(cfg.randaugment={cfg.randaugment}, cfg.erasing={cfg.erasing}, images {tuple(image.shape)})"
    expected = T.Normalize(CIFAR_MEAN, CIFAR_STD)(T.ToDtype(torch.float32, scale=True)(image))   # torchvision's own ops
    saved = image.clone()
    tf = build_eval_transform(cfg)
    extra = [type(step).__name__ for step in steps_of(tf) if STEP.get(type(step).__name__) not in ("to float", "Normalize")]
    assert not extra, f"{where}: the evaluation transform uses {extra[0]}; evaluation must be deterministic: " \
                      "convert to float and normalize, no augmentation"
    for _ in range(4):                                            # the same image, the same output, every time
        out = tf(image)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == image.shape, \
            f"{where}: uint8 images should give float32 images of the same shape; it gave " \
            f"{type(out).__name__} {getattr(out, 'dtype', '')} {tuple(getattr(out, 'shape', ()))}"
        assert torch.equal(image, saved), f"{where}: the transform changed the images it was given; every step must " \
            "return a new tensor and leave its input alone"
        assert torch.allclose(out, expected, rtol=1e-4, atol=1e-4), \
            f"{where}: the output differs from Normalize(CIFAR_MEAN, CIFAR_STD) of the image scaled to 0..1 by up to " \
            f"{(out - expected).abs().max():.3g}: ToDtype(torch.float32, scale=True), then Normalize(CIFAR_MEAN, CIFAR_STD)"
print("eval_transform: OK")

# %% [markdown]
# What the network sees: eight training images, each drawn through your
# training transform five times (normalization undone for display).

# %% reglab="demo"
def show_augmentations(images, transform, repeats=5):
    fig, axes = plt.subplots(len(images), repeats + 1, figsize=(1.3 * (repeats + 1), 1.3 * len(images)))
    mean, std = torch.tensor(CIFAR_MEAN)[:, None, None], torch.tensor(CIFAR_STD)[:, None, None]
    for row, image in zip(axes, images):
        row[0].imshow(image.permute(1, 2, 0).cpu())
        for ax in row[1:]:
            ax.imshow((transform(image.cpu()) * std + mean).clamp(0, 1).permute(1, 2, 0))
        for ax in row:
            ax.axis("off")
    axes[0, 0].set_title("original", fontsize=8)
    plt.tight_layout()
    plt.show()


show_augmentations(SPLITS["train"][0][:8], build_train_transform(Config()))

# %% [markdown]
# ## 3. Weight decay, done right
#
# With plain SGD, adding $\frac{\lambda}{2}\lVert w\rVert^2$ to the loss
# (L2 regularization) and shrinking the weights by $\eta\lambda w$ each step
# (weight decay) are the same update:
# $w - \eta(g + \lambda w) = (1 - \eta\lambda)\,w - \eta g$.
# With Adam they are not: the L2 gradient $\lambda w$ joins $g$ and is divided
# by Adam's running RMS of the gradient, so weights with large gradients are
# barely regularized. **AdamW** decouples the decay from the adaptive step:
# $w \leftarrow w - \eta\,(\hat m/(\sqrt{\hat v}+\epsilon) + \lambda w)$.
#
# The cell below does it with numbers: one weight $w = 2$, the gradient of the
# data loss $g = 0.5$, $\eta = 0.1$, $\lambda = 0.01$, one step, by hand and
# with PyTorch's optimizers.

# %% reglab="demo"
W0, GRAD, LR, LAM = 2.0, 0.5, 0.1, 0.01        # one weight, d(data loss)/dw at W0, learning rate, lambda


def one_step(optimizer_class, l2_in_loss=False, **options):
    """W0 after one step of ``optimizer_class`` on the loss GRAD * w (+ LAM / 2 * w**2 with ``l2_in_loss``)."""
    w = torch.tensor([W0], requires_grad=True)
    optimizer = optimizer_class([w], lr=LR, **options)
    loss = GRAD * w.sum() + (LAM / 2 * w.pow(2).sum() if l2_in_loss else 0.0)
    loss.backward()
    optimizer.step()
    return w.item()


def adam_first_step(w, grad):
    """Adam's first step from zero moments: m_hat = grad, v_hat = grad**2, so it moves by LR * grad / (|grad| + eps)."""
    return w - LR * grad / (abs(grad) + 1e-8)


worked = [   # (update, PyTorch, by hand, the unregularized step it is compared with)
    ("SGD, L2 term in the loss", one_step(torch.optim.SGD, l2_in_loss=True), W0 - LR * (GRAD + LAM * W0), W0 - LR * GRAD),
    ("SGD(weight_decay=LAM)", one_step(torch.optim.SGD, weight_decay=LAM), (1 - LR * LAM) * W0 - LR * GRAD, W0 - LR * GRAD),
    ("Adam, L2 term in the loss", one_step(torch.optim.Adam, l2_in_loss=True), adam_first_step(W0, GRAD + LAM * W0),
     adam_first_step(W0, GRAD)),
    ("Adam(weight_decay=LAM)", one_step(torch.optim.Adam, weight_decay=LAM), adam_first_step(W0, GRAD + LAM * W0),
     adam_first_step(W0, GRAD)),
    ("AdamW(weight_decay=LAM)", one_step(torch.optim.AdamW, weight_decay=LAM), adam_first_step((1 - LR * LAM) * W0, GRAD),
     adam_first_step(W0, GRAD)),
]
print(f"{'update':27s} {'PyTorch':>9s} {'by hand':>9s}   what the regularizer added to the step")
for name, torch_w, hand_w, plain_w in worked:
    assert abs(torch_w - hand_w) < 1e-6, (name, torch_w, hand_w)
    print(f"{name:27s} {torch_w:9.5f} {hand_w:9.5f}   {round(torch_w - plain_w, 6) + 0.0:+.5f}")

# %% [markdown]
# Read the last column. For SGD the L2 term and `weight_decay` both move the
# weight by $-\eta\lambda w = -0.002$: the same update, which is why L2 and
# weight decay are one thing for SGD. For Adam the L2 gradient $\lambda w$ is
# added to $g$ *before* the division by $\sqrt{\hat v}$; on this first step
# Adam moves by $\eta\,\operatorname{sign}(g + \lambda w)$ whatever the size
# of $g + \lambda w$, so the regularizer added nothing at all (in later steps
# it adds $\lambda w / \sqrt{\hat v}$: little where gradients are large).
# `torch.optim.Adam(weight_decay=...)` is this L2 form. AdamW shrinks the
# weight by $\eta\lambda w$ outside the adaptive step, the full $-0.002$, as
# SGD's weight decay does.
#
# **Which weights decay.** By convention only the weights of Linear and Conv
# layers; biases, normalization scales and shifts (and embedding tables) are
# left alone. They are few (one per channel), so they hold little capacity to
# overfit, and pulling a normalization scale $\gamma$ towards 0 would shrink
# the signal the next layer receives rather than simplify the function.
#
# **BatchNorm makes the conv weights before it scale-invariant.** In this
# lab's networks every Conv feeds a BatchNorm, and
# $\mathrm{BN}(\mathrm{conv}(x; cW)) = \mathrm{BN}(\mathrm{conv}(x; W))$ for
# any $c > 0$: the network computes the same function whatever the norm of
# those weights (the cell below checks it). So decaying them *cannot* limit
# what the network represents. What it changes is the effective learning
# rate: the loss depends only on the direction $W/\lVert W\rVert$, a step of
# a given size turns that direction by about $\text{step}/\lVert W\rVert$, and
# weight decay keeps $\lVert W\rVert$ from growing, so the direction keeps
# moving at a steady rate instead of freezing. For these layers weight decay
# is a learning-rate control; only the Linear layers of the head (no
# BatchNorm after them) are regularized by it in the usual sense: smaller
# weights there mean smaller logits.

# %% reglab="demo"
layer = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)).train()
x = torch.randn(8, 3, 6, 6)
before = layer(x)
with torch.no_grad():
    layer[0].weight.mul_(10.0)                     # ten times the norm, same direction
print("largest change in the BatchNorm'd output after scaling the conv weights by 10:",
      f"{(layer(x) - before).abs().max().item():.1e}\n(BatchNorm's eps and float rounding; the outputs are of size 1)")

# %% [markdown]
# Write `param_groups(model, weight_decay)`: two dicts, `{"params": [...],
# "weight_decay": weight_decay}` and `{"params": [...], "weight_decay": 0.0}`,
# every trainable parameter exactly once (walk `model.modules()` and use
# `isinstance`). Then `make_optimizer(model, cfg)`: `torch.optim.AdamW` on
# those groups with `lr=cfg.lr`.

# %% reglab="solution" functions=["param_groups"]

# %% reglab="solution" functions=["make_optimizer"]

# %% [markdown]
# **Self-check: which parameters decay**, in a model with an embedding, Conv
# and Linear layers, three kinds of normalization, a module of its own with a
# learned gain, two layers that share a weight, and a layer used twice.

# %% reglab="selfcheck" item="param_groups"
class GainBlock(nn.Module):
    """A module of the model's own: a Linear inside, and a learned gain registered on the block itself."""

    def __init__(self):
        super().__init__()
        self.inner, self.gain = nn.Linear(4, 4), nn.Parameter(torch.ones(4))


class TiedPair(nn.Module):
    """Two Linear layers sharing one weight, as tied input and output embeddings do."""

    def __init__(self):
        super().__init__()
        self.encode, self.decode = nn.Linear(4, 4), nn.Linear(4, 4)
        self.decode.weight = self.encode.weight


net = nn.ModuleDict({"lookup": nn.Embedding(20, 4), "stem": nn.Conv2d(3, 4, 3), "mixer": nn.BatchNorm2d(4),
                     "body": nn.Conv1d(4, 4, 3, bias=False), "gate": nn.LayerNorm(4), "core": nn.GroupNorm(2, 4),
                     "block": GainBlock(), "pair": TiedPair(), "head": nn.Linear(4, 2)})
net["again"] = net["gate"]                                                # one layer registered twice
DECAY = {"stem.weight", "body.weight", "block.inner.weight", "pair.encode.weight", "head.weight"}   # Conv and Linear weights


def kind_of(model, name):
    """'the bias of a Linear', 'the weight of a LayerNorm'... for a parameter name of ``model``."""
    module_name, _, attribute = name.rpartition(".")
    kind = type(model.get_submodule(module_name)).__name__
    return f"the {attribute} of {'an' if kind[0] in 'AEIOU' else 'a'} {kind}"


for wd in (0.1, 0.03):
    groups = list(param_groups(net, wd))
    names = {id(p): name for name, p in net.named_parameters()}
    assert all(isinstance(g, dict) and "params" in g for g in groups), \
        "param_groups should return a list of dicts, each with 'params' and 'weight_decay'"
    assert len(groups) == 2, f"param_groups returned {len(groups)} groups; return two: the parameters that decay and those that do not"
    assert all("weight_decay" in g for g in groups), "a group has no 'weight_decay' key; AdamW would give it its default " \
        "decay of 0.01. Set 'weight_decay': weight_decay on one group and 0.0 on the other"
    listed = [[names.get(id(p), "?") for p in ([g["params"]] if isinstance(g["params"], torch.Tensor) else g["params"])]
              for g in groups]
    every = [name for group in listed for name in group]
    assert "?" not in every, "param_groups put tensors that are not the model's parameters in a group"
    twice = sorted({name for name in every if every.count(name) > 1})
    assert not twice, f"{kind_of(net, twice[0])} appears twice (a layer may be used twice, a weight shared by two " \
                      "layers); every parameter goes in exactly one group"
    missing = sorted(set(names.values()) - set(every))
    assert not missing, f"{kind_of(net, missing[0])} is in no group; every trainable parameter must be in one, " \
                        "wherever in the model it is registered"
    decays = [g["weight_decay"] for g in groups]
    assert sorted(decays) == [0.0, wd], f"the groups' weight_decay values are {decays}; they should be the weight_decay " \
                                        f"argument ({wd}) and 0.0"
    decayed = set(listed[decays.index(wd)])
    wrong = {kind_of(net, name): "embeddings do not decay" if "Embedding" in kind_of(net, name)
             else "biases do not decay" if name.endswith("bias")
             else "normalization parameters do not decay" if "Norm" in kind_of(net, name)
             else "only the weights of Linear and Conv layers decay" for name in sorted(decayed - DECAY)}
    assert not wrong, f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} in the decay group; " \
                      f"{'; '.join(dict.fromkeys(wrong.values()))}"
    for name in sorted(DECAY - decayed):
        raise AssertionError(f"{kind_of(net, name)} is not decayed; the weights of Linear and Conv layers decay")
print("param_groups: OK")

# %% [markdown]
# **Self-check: the optimizer**: AdamW on your parameter groups, at `cfg.lr`.

# %% reglab="selfcheck" item="optimizer"
for cfg in (Config(lr=0.01, weight_decay=0.2), Config(lr=3e-4, weight_decay=0.05)):
    where = f"(cfg.lr={cfg.lr:g}, cfg.weight_decay={cfg.weight_decay:g})"
    optimizer = make_optimizer(net, cfg)
    assert type(optimizer).__name__ == "AdamW" and type(optimizer).__module__.startswith("torch.optim"), \
        f"make_optimizer returned {type(optimizer).__name__}; use torch.optim.AdamW, whose weight decay is decoupled " \
        "from the adaptive step (Adam's weight_decay is the L2 term of part 3)"
    assert all(g["lr"] == cfg.lr for g in optimizer.param_groups), \
        f"{where}: the learning rates are {[g['lr'] for g in optimizer.param_groups]}; use cfg.lr in every group"
    names = {id(p): name for name, p in net.named_parameters()}
    yours = [([g["params"]] if isinstance(g["params"], torch.Tensor) else list(g["params"]), g.get("weight_decay", 0.01))
             for g in param_groups(net, cfg.weight_decay)]           # AdamW's default decay is 0.01
    expected = sorted((sorted(names.get(id(p), "?") for p in params), decay) for params, decay in yours)
    got = sorted((sorted(names.get(id(p), "?") for p in g["params"]), g["weight_decay"]) for g in optimizer.param_groups)
    assert got == expected, f"{where}: the optimizer's groups differ from param_groups(model, cfg.weight_decay): it " \
        f"has {len(got)} group(s) with weight_decay {[d for _, d in got]}, param_groups gives {len(expected)} with " \
        f"{[d for _, d in expected]}; build AdamW on those groups (and pass cfg.weight_decay to param_groups)"
print("optimizer: OK")

# %% [markdown]
# ## 4. Label smoothing
#
# Label smoothing trains against the target $(1-\varepsilon)\,\text{one-hot}
# + \varepsilon/K$: the network is never asked for infinite confidence, so its
# logits stay bounded and its probabilities better calibrated. Write
# `make_criterion(cfg)`: an `nn.CrossEntropyLoss` with
# `label_smoothing=cfg.label_smoothing`.

# %% reglab="solution" functions=["make_criterion"]

# %% [markdown]
# **Self-check: against PyTorch's `F.cross_entropy(label_smoothing=...)`**, on a
# confident right answer (whose smoothed loss is not zero) and on random logits.

# %% reglab="selfcheck" item="criterion"
gen = torch.Generator().manual_seed(0)
confident = (torch.tensor([[20.0, 0.0, 0.0, 0.0]]), torch.tensor([0]))    # a confident right answer
for eps in (0.2, 0.0, 0.05, 0.3):
    criterion = make_criterion(Config(label_smoothing=eps))
    assert isinstance(criterion, nn.Module), "make_criterion should return an nn.Module, e.g. nn.CrossEntropyLoss(...)"
    for logits, target in (confident, (torch.randn(6, 10, generator=gen) * 3, torch.randint(10, (6,), generator=gen))):
        where = f"cfg.label_smoothing={eps:g}, {logits.shape[1]} classes"
        saved = logits.clone(), target.clone()
        loss = criterion(logits, target)
        for name, tensor, before in (("logits", logits, saved[0]), ("labels", target, saved[1])):
            assert tensor.shape == before.shape, f"the criterion changed the shape of its input {name} to " \
                f"{tuple(tensor.shape)}; compute on new tensors (y.unsqueeze(1), not y.unsqueeze_(1)) ({where})"
            assert torch.equal(tensor, before), f"the criterion changed its input {name} in place; compute on new " \
                f"tensors ({where})"
        assert isinstance(loss, torch.Tensor) and loss.shape == (), \
            f"the criterion should return a scalar loss (the mean over the batch); got {type(loss).__name__} ({where})"
        expected = nn.functional.cross_entropy(logits.double(), target, label_smoothing=eps)       # PyTorch's own
        if not torch.isclose(loss.double(), expected, rtol=1e-4, atol=1e-4):
            other = next((e for e in (0.0, 0.05, 0.1, 0.2, 0.3) if torch.isclose(
                loss.double(), nn.functional.cross_entropy(logits.double(), target, label_smoothing=e), rtol=1e-4, atol=1e-4)), None)
            hint = ("there is no label smoothing; pass label_smoothing=cfg.label_smoothing" if other == 0 else
                    f"it is the loss with label_smoothing={other:g}; pass label_smoothing=cfg.label_smoothing" if other is not None
                    else "use nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)")
            raise AssertionError(f"the loss is {loss.item():.4f}, cross entropy with label_smoothing={eps:g} is "
                                 f"{expected.item():.4f}: {hint} ({where})")
print(f"criterion: OK (a confident right answer costs {make_criterion(Config(label_smoothing=0.2))(*confident).item():.2f} "
      f"with eps = 0.2, {make_criterion(Config(label_smoothing=0.0))(*confident).item():.2f} without)")

# %% [markdown]
# ## 5. Early stopping
#
# Validation loss falls, then rises as the network starts to fit noise in
# the training set. Early stopping watches it: an epoch **improves** if its
# loss is below `best_loss - min_delta` (strictly); after `patience` epochs
# in a row without an improvement, stop, and put back the weights of the
# best epoch.
#
# Write `EarlyStopping(patience, min_delta=0.0)` with
# * `step(val_loss, model) -> bool`, called once per epoch; True means stop;
# * attributes `best_loss` and `best_epoch` (the first call to `step` is
#   epoch 1);
# * a **copy** of the best weights, taken on every improvement — cloned
#   tensors, not `model.state_dict()` itself, whose tensors are the live
#   parameters and keep changing;
# * `restore(model)`, which loads that copy back.

# %% reglab="solution" functions=["EarlyStopping"]

# %% [markdown]
# **Self-check: when it stops, and which epoch it remembers**: after a tie,
# after gains smaller than `min_delta`, after a late improvement.

# %% reglab="selfcheck" item="early_stopping"
def stop_epoch(stopper, losses):
    """The epoch (the first call is epoch 1) at which step() first says stop, or None if it never does."""
    return next((epoch for epoch, loss in enumerate(losses, start=1) if stopper.step(loss, nn.Linear(1, 1))), None)


LATE, EARLY = "it stops one epoch late", "it stops one epoch early"
cases = [  # patience, min_delta (None: the default), losses, (stop epoch, best_epoch, best_loss), {(stop, best_epoch): what is wrong}
    (2, None, [1.0, 0.9, 0.9, 0.95, 0.97], (4, 2, 0.9),
     {(5, 3): "epoch 3 ties the best loss 0.9 and counted as an improvement; an improvement must be strictly "
              "lower than best_loss - min_delta", (5, 2): LATE, (3, 2): EARLY}),
    (2, 0.05, [1.0, 0.8, 0.78, 0.77, 0.9], (4, 2, 0.8),
     {(None, 4): "0.78 and 0.77 are better than 0.8 by less than min_delta=0.05 and counted as improvements; only a "
                 "loss below best_loss - min_delta improves", (5, 2): LATE, (3, 2): EARLY}),
    (3, None, [1.0, 1.1, 1.2, 0.9, 1.0, 1.05, 1.1, 1.2], (7, 4, 0.9),
     {(5, 4): "the count of epochs without improvement was not reset by the improvement at epoch 4",
      (8, 4): LATE, (3, 1): EARLY}),
    (2, None, [0.5, 0.6, 0.7, 0.8], (3, 1, 0.5), {(4, 1): LATE, (2, 1): EARLY}),     # the first epoch is the best
]
for patience, min_delta, losses, (stop, best_epoch, best_loss), hints in cases:
    stopper = EarlyStopping(patience) if min_delta is None else EarlyStopping(patience, min_delta=min_delta)
    where = f"patience={patience}, min_delta={min_delta or 0}, validation losses {losses}"
    got = stop_epoch(stopper, losses)
    if got != stop:
        said = f"step() said stop after {got} epochs" if got else "step() never said stop"
        raise AssertionError(f"{said}, not after {stop}: " + hints.get(
            (got, stopper.best_epoch), "stop once `patience` epochs in a row brought no improvement") + f" ({where})")
    assert stopper.best_epoch == best_epoch, f"best_epoch is {stopper.best_epoch}, not {best_epoch}, the epoch of the " \
        f"lowest loss{' (the first call to step is epoch 1)' if stopper.best_epoch == best_epoch - 1 else ''} ({where})"
    assert stopper.best_loss == best_loss, f"best_loss is {stopper.best_loss}, not {best_loss}, the lowest loss ({where})"
print("early_stopping: OK")

# %% [markdown]
# **Self-check: restore brings back the best epoch's weights**, also when
# the best epoch is the first.

# %% reglab="selfcheck" item="early_stopping_restore"
for losses, best in (([0.9, 0.5, 0.6, 0.7], 2), ([0.4, 0.5, 0.6, 0.7], 1)):      # the best epoch: 2, then the first
    layer, stopper = nn.Linear(2, 1), EarlyStopping(patience=3)
    for epoch, loss in enumerate(losses, start=1):
        with torch.no_grad():
            layer.weight.fill_(epoch)                 # in place, as an optimizer step is
            layer.bias.fill_(epoch)
        stopper.step(loss, layer)
    with torch.no_grad():
        layer.weight.fill_(-1.0)
        layer.bias.fill_(-1.0)
    stopper.restore(layer)
    where = f"(validation losses {losses}, the best at epoch {best}; epoch e sets every weight to e, then -1 before restore)"
    assert not torch.all(layer.weight == -1), "restore(model) left the model's current weights in place: keep a copy " \
        "of the best weights (clone the tensors of model.state_dict(), which are the live parameters), from the first " \
        f"epoch on, and load it into the model {where}"
    assert torch.all(layer.weight == best), f"restore(model) loaded the weights of epoch {layer.weight[0, 0].item():g}, " \
        f"not those of the best one; copy the weights when the loss improves {where}"
    assert torch.all(layer.bias == best), f"restore(model) brought back the weights but not the bias; keep the whole " \
        f"state_dict {where}"
print("early_stopping_restore: OK")

# %% [markdown]
# ## 6. The epoch loops
#
# `train_one_epoch(model, loader, optimizer, criterion, device)`: training
# mode, one pass over the loader (move each batch to `device`; zero the
# gradients, forward, loss, backward, step), and return the mean loss per
# **sample** as a Python float (the last batch may be smaller; weight each
# batch's mean loss by its size). `evaluate(model, loader, criterion,
# device) -> (loss, accuracy)`: eval mode (dropout off, BatchNorm on its
# running statistics), no gradients, mean loss per sample and the fraction
# of correct predictions (0…1), both Python floats.

# %% reglab="solution" functions=["train_one_epoch"]

# %% reglab="solution" functions=["evaluate"]

# %% [markdown]
# **Self-check: one epoch of SGD on a small network handed over in eval
# mode, against the loop written out here.**

# %% reglab="selfcheck" item="train_one_epoch"
torch.manual_seed(0)
xs, ys = torch.randn(10, 5), torch.randint(0, 3, (10,))
batches = [(xs[:4], ys[:4]), (xs[4:8], ys[4:8]), (xs[8:], ys[8:])]          # the last batch is smaller


def small_net(dropout=0.0):
    """The same small network every time: Linear, BatchNorm, ReLU, Dropout, Linear."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4, 3))


def epoch_written_out(zero_grad=True):
    """One epoch of SGD with momentum, in training mode (``zero_grad=False``: a known mistake)."""
    net = small_net().train()
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for x, y in batches:
        if zero_grad:
            sgd.zero_grad()
        batch_loss = nn.functional.cross_entropy(net(x), y)
        batch_loss.backward()
        sgd.step()
        losses.append(batch_loss.item())
    return net, losses


mine, start = small_net().eval(), small_net()                                   # handed over in eval mode
saved = [(x.clone(), y.clone()) for x, y in batches]
loss = train_one_epoch(mine, batches, torch.optim.SGD(mine.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss(), "cpu")
assert all(torch.equal(x, x0) and torch.equal(y, y0) for (x, y), (x0, y0) in zip(batches, saved)), \
    "train_one_epoch changed the batches it was given; leave the loader's tensors alone"
expected, losses = epoch_written_out()
assert not torch.equal(mine[0].weight, start[0].weight), \
    "the weights did not change: call loss.backward() and optimizer.step() for every batch"
assert not torch.equal(mine[1].running_mean, start[1].running_mean), \
    "BatchNorm's running statistics did not move: the model stayed in eval mode; call model.train() at the start"
for name, value in expected.state_dict().items():
    if not torch.allclose(mine.state_dict()[name].float(), value.float(), rtol=1e-4, atol=1e-4):
        piled_up = epoch_written_out(zero_grad=False)[0].state_dict()[name]
        assert not torch.allclose(mine.state_dict()[name].float(), piled_up.float(), rtol=1e-4, atol=1e-4), \
            "gradients pile up from batch to batch: call optimizer.zero_grad() before each backward"
        raise AssertionError(f"after one epoch the model's {name} differs from the loop written out above by up to "
                             f"{(mine.state_dict()[name].float() - value.float()).abs().max():.2g}: per batch, zero "
                             "the gradients, forward, loss, backward, step")
assert isinstance(loss, (int, float)) and not isinstance(loss, bool), \
    f"train_one_epoch returned {type(loss).__name__}; return a Python float (use .item() on a tensor)"
per_sample = sum(v * len(y) for v, (_, y) in zip(losses, batches)) / len(ys)
if abs(loss - per_sample) > 1e-4 * max(1.0, per_sample):
    assert abs(loss - sum(losses) / len(losses)) > 1e-5, "the returned loss is the mean of the batch losses; weight " \
        "each by its batch size (the last batch has 2 samples, not 4), so it is the mean per sample"
    assert abs(loss - losses[-1]) > 1e-5, "the returned loss is the last batch's; return the mean over the epoch"
    raise AssertionError(f"the returned loss is {loss:.5f}, the mean training loss per sample is {per_sample:.5f}")
print("train_one_epoch: OK")

# %% [markdown]
# **Self-check: evaluation is in eval mode, uses the criterion it is given
# and weighs every sample once.**

# %% reglab="selfcheck" item="evaluate"
net = small_net(dropout=0.5).train()                                         # handed over in training mode
with torch.no_grad():
    net[1].running_mean.fill_(0.3)
    net[1].running_var.fill_(2.0)
criterion, saved = nn.CrossEntropyLoss(label_smoothing=0.1), [(x.clone(), y.clone()) for x, y in batches]
loss, accuracy = evaluate(net, batches, criterion, "cpu")
assert all(torch.equal(x, x0) and torch.equal(y, y0) for (x, y), (x0, y0) in zip(batches, saved)), \
    "evaluate changed the batches it was given; leave the loader's tensors alone"
assert torch.all(net[1].running_mean == 0.3), \
    "evaluate changed BatchNorm's running statistics: call model.eval() first (dropout off, running statistics used)"
reference = small_net(dropout=0.5).eval()
reference.load_state_dict(net.state_dict())
with torch.no_grad():
    logits = [reference(x) for x, _ in batches]
sizes = [len(y) for _, y in batches]
batch_losses = [criterion(z, y).item() for z, (_, y) in zip(logits, batches)]
expected_loss = sum(v * n for v, n in zip(batch_losses, sizes)) / len(ys)
expected_accuracy = sum((z.argmax(1) == y).sum().item() for z, (_, y) in zip(logits, batches)) / len(ys)
for value, what in ((loss, "loss"), (accuracy, "accuracy")):
    assert isinstance(value, (int, float)) and not isinstance(value, bool), \
        f"the returned {what} is a {type(value).__name__}; return Python floats (use .item() on a tensor)"
if abs(accuracy - expected_accuracy) > 1e-6:
    assert abs(accuracy - 100 * expected_accuracy) > 1e-4, \
        "accuracy is a percentage; return the fraction of correct predictions, 0..1"
    raise AssertionError(f"accuracy is {accuracy:.3f}, not {expected_accuracy:.3f}: count argmax(logits) == label over "
                         "all samples and divide by their number")
if abs(loss - expected_loss) > 1e-4 * max(1.0, expected_loss):
    plain = sum(nn.functional.cross_entropy(z, y).item() * n for z, (_, y), n in zip(logits, batches, sizes)) / len(ys)
    assert abs(loss - sum(batch_losses) / len(batch_losses)) > 1e-5, \
        "the loss is the mean of the batch losses; weight each by its batch size"
    assert abs(loss - plain) > 1e-5, "the loss ignores the criterion you were given; use criterion(logits, y)"
    raise AssertionError(f"the loss is {loss:.5f}, not {expected_loss:.5f}, the mean loss per sample in eval mode")
print("evaluate: OK")

# %% [markdown]
# ## 7. The sweep
#
# The given code below feeds the sweep. `AugmentedBatches` serves batches
# from the image tensors (on the GPU in the `gpu` profile, so augmentation
# runs there too), applying a transform to groups of `augment_group` images
# per call; torchvision draws one set of random parameters per call, so a
# group shares its crop, flip and RandAugment operations — a small loss of
# diversity for much less Python overhead. `SweepData.loaders(train_transform,
# eval_transform)` gives the training and validation loaders; a `SweepData`
# made with `augment=False` trains on the evaluation transform instead (the
# *no augmentation* arm of the experiment). `Budget` holds `make_model()` (a
# fresh network, the same initial weights every time), `make_scheduler(optimizer)`
# (the learning-rate schedule: a short warm-up, then a cosine decay to about
# 0 at `max_epochs`, stepped once per epoch), `device` and `max_epochs`. In
# the `cpu` and `gpu` profiles the network and its batches use channels-last
# memory (faster on a CPU as well), and in the `gpu` profile it runs in
# bfloat16 autocast, wrapped in `Autocast`, so your loops need not know.

# %% tags=["helpers"]
class AugmentedBatches:
    """(images, labels) batches from uint8 image tensors, transformed ``group`` images per call."""

    def __init__(self, images, labels, transform, batch_size, shuffle, group=1, channels_last=False):
        self.images, self.labels, self.transform = images, labels, transform
        self.batch_size, self.shuffle, self.group, self.channels_last = batch_size, shuffle, group, channels_last

    def __len__(self):
        n, b = len(self.labels), self.batch_size
        return n // b if self.shuffle else math.ceil(n / b)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, device=self.labels.device) if self.shuffle else torch.arange(n, device=self.labels.device)
        for batch in range(len(self)):                 # training drops a short last batch (BatchNorm needs > 1)
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            x = torch.cat([self.transform(chunk) for chunk in self.images[index].split(self.group)])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[index]


class SweepData:
    """What ``run_sweep`` trains and validates on, sized by the profile; ``augment=False`` trains un-augmented."""

    def __init__(self, splits, profile, augment=True):
        self.splits, self.profile, self.augment = splits, profile, augment

    def loaders(self, train_transform, eval_transform):
        p = self.profile
        train = AugmentedBatches(*self.splits["train"], train_transform if self.augment else eval_transform,
                                 p["batch_size"], shuffle=True, group=p["augment_group"], channels_last=p["channels_last"])
        return train, self.eval_loader("val", eval_transform)

    def eval_loader(self, split, eval_transform):
        size = 2 * self.profile["batch_size"]
        return AugmentedBatches(*self.splits[split], eval_transform, size, shuffle=False, group=size,
                                channels_last=self.profile["channels_last"])


@dataclass
class Budget:
    max_epochs: int
    device: str
    make_model: Callable[[], nn.Module]
    make_scheduler: Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


def warmup_cosine(optimizer, epochs, warmup=0.2):
    """The learning rate of epoch e (from 0) is lr times the schedule at t = (e + 1/2) / epochs: a linear rise over
    the first ``warmup`` of the run, then a cosine decay to about 0. Stepped once per epoch; past ``epochs`` it stays low."""
    def factor(epoch):
        t = min((epoch + 0.5) / epochs, 1.0)
        return t / warmup if t < warmup else 0.5 * (1 + math.cos(math.pi * (t - warmup) / (1 - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def conv_bn(c_in, c_out, pool=False):
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x):
        return x + self.body(x)


def small_cnn(width):
    """Three conv-BN-ReLU-pool stages (width, 2 width, 4 width channels) and a two-layer head on the 4 x 4 maps.

    The head holds most of the parameters (at width 32, 0.5 M of 0.6 M) for little compute, so the network can
    fit a few thousand images within 20 epochs, and overfit them: what the regularizers are for."""
    return nn.Sequential(conv_bn(3, width, pool=True), conv_bn(width, 2 * width, pool=True),
                         conv_bn(2 * width, 4 * width, pool=True), nn.Flatten(),
                         nn.Linear(4 * width * 16, 256), nn.ReLU(inplace=True), nn.Linear(256, 10))


def resnet9(width):
    """The ResNet-9 of the DAWNBench CIFAR-10 entries: four stages, two residual blocks, max-pool head."""
    return nn.Sequential(conv_bn(3, width), conv_bn(width, 2 * width, pool=True), Residual(2 * width),
                         conv_bn(2 * width, 4 * width, pool=True), conv_bn(4 * width, 8 * width, pool=True),
                         Residual(8 * width), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * width, 10))


class Autocast(nn.Module):
    """Runs ``net`` under bfloat16 autocast on a CUDA device that supports it; returns float32 logits."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        enabled = x.is_cuda and torch.cuda.is_bf16_supported()
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=enabled):
            return self.net(x).float()


def make_model(profile=P, device=DEVICE, seed=0):
    """A fresh network of the profile, with the same initial weights on every call with the same seed.

    It also seeds torch's global generator, which shuffles the batches and draws the augmentations: one seed
    fixes a whole training run."""
    torch.manual_seed(seed)
    net = {"small_cnn": small_cnn, "resnet9": resnet9}[profile["model"]](profile["width"]).to(device)
    if profile["channels_last"]:
        net = net.to(memory_format=torch.channels_last)
    return Autocast(net) if profile["amp"] else net


AUGMENTATIONS = {"none": "no augmentation", "crop_flip": "crop + flip", "randaugment": "+ RandAugment + erasing"}


def experiment_design(profile):
    """(augmentation, Config) pairs to train, each once per seed: a baseline (crop + flip, the profile's first weight
    decay and label smoothing, 0 and 0) and every other value of one factor at a time, so that each effect is a
    difference from the same baseline. Fewer runs than the whole grid, so more seeds fit in the budget."""
    def config(augmentation, wd, ls):
        strong = augmentation == "randaugment"
        return augmentation, Config(lr=profile["lr"], weight_decay=wd, randaugment=strong, num_ops=profile["num_ops"],
                                    magnitude=profile["magnitude"], erasing=profile["erasing"] if strong else 0.0,
                                    label_smoothing=ls, patience=profile["patience"])
    wds, lss = profile["weight_decays"], profile["label_smoothings"]
    return ([config(a, wds[0], lss[0]) for a in AUGMENTATIONS] + [config("crop_flip", wd, lss[0]) for wd in wds[1:]]
            + [config("crop_flip", wds[0], ls) for ls in lss[1:]])


def config_label(augmentation, cfg):
    return f"{AUGMENTATIONS[augmentation]}, wd {cfg.weight_decay:g}, ls {cfg.label_smoothing:g}"


def run_experiment(profile, splits, seeds, device=DEVICE, progress=None):
    """``run_sweep`` over the design, once per seed; one row per (seed, configuration), each also handed to
    ``progress(row)`` when it is done.

    Each row is run_sweep's row (without the model) plus ``augmentation``, ``seed`` and ``test_accuracy``: the
    accuracy on the test images of the model with the weights early stopping kept."""
    design, rows = experiment_design(profile), []
    for seed in seeds:
        budget = Budget(max_epochs=profile["max_epochs"], device=device,
                        make_model=lambda: make_model(profile, device, seed),
                        make_scheduler=lambda optimizer: warmup_cosine(optimizer, profile["max_epochs"]))
        for augmentation, cfg in design:
            data = SweepData(splits, profile, augment=augmentation != "none")
            row = run_sweep([cfg], data, budget)[0]
            model = row.pop("model")
            _, row["test_accuracy"] = evaluate(model, data.eval_loader("test", build_eval_transform(cfg)),
                                               nn.CrossEntropyLoss(), device)
            rows.append({**row, "augmentation": augmentation, "seed": seed})
            if progress is not None:
                progress(rows[-1])
    return rows


def summarize(rows):
    """Per configuration (in design order): mean and sample standard deviation over seeds of the validation and
    test accuracies, and the per-seed values, as {label: {...}}."""
    table = {}
    for row in rows:
        entry = table.setdefault(config_label(row["augmentation"], row["config"]),
                                 {"augmentation": row["augmentation"], "config": row["config"], "rows": []})
        entry["rows"].append(row)
    for entry in table.values():
        for key in ("best_val_accuracy", "test_accuracy", "best_epoch", "final_train_loss"):
            values = np.array([row[key] for row in entry["rows"]], dtype=float)
            entry[key] = values
            entry[key + "_mean"] = values.mean()
            entry[key + "_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
    return table


DATA = SweepData(SPLITS, P)
DESIGN = experiment_design(P)
SEEDS = list(range(P["seeds"]))
print(f"{len(DESIGN)} configurations x {len(SEEDS)} seeds, {len(DATA.loaders(None, None)[0])} training batches per epoch")
for augmentation, cfg in DESIGN:
    print("  " + config_label(augmentation, cfg))

# %% [markdown]
# **How strong is a weight decay?** AdamW multiplies every decayed weight by
# $(1 - \eta_t\lambda)$ at each step, whatever its gradient. Over a whole run
# of this profile (its learning rate, schedule and number of steps) that
# compounds to the factors below: what is left of a weight that the loss
# never pushes. A decay that leaves 95% changes next to nothing in this
# budget; the experiment uses the profile's `weight_decays`, chosen so that
# the factor is far from 1.

# %% reglab="demo"
steps_per_epoch = len(DATA.loaders(None, None)[0])
schedule = warmup_cosine(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=P["lr"]), P["max_epochs"])
epoch_lrs = [P["lr"] * schedule.lr_lambdas[0](epoch) for epoch in range(P["max_epochs"])]
for wd in sorted({0.05, 0.5, 2.0, *P["weight_decays"]} - {0.0}):
    left = math.prod((1 - lr * wd) ** steps_per_epoch for lr in epoch_lrs)
    print(f"weight decay {wd:g}: a weight the loss does not push keeps {left:.0%} of its size after "
          f"{P['max_epochs'] * steps_per_epoch} steps")

# %% [markdown]
# Write `run_sweep(configs, data, budget) -> list[dict]`. For each `cfg`:
# a fresh model from `budget.make_model()`; the loaders from
# `data.loaders(build_train_transform(cfg), build_eval_transform(cfg))`;
# your optimizer, `scheduler = budget.make_scheduler(optimizer)`, your
# criterion and `EarlyStopping(cfg.patience, cfg.min_delta)`; then up to
# `budget.max_epochs` epochs of `train_one_epoch`, `scheduler.step()` and
# `evaluate` on the validation loader with a **plain** `nn.CrossEntropyLoss()`
# (so validation losses compare across label-smoothing settings), stopping
# when the early stopper says so; finally restore the best weights. Append
# one row per config, in order:
#
# ```
# {"config": cfg, "best_val_accuracy": validation accuracy at best_epoch,
#  "best_epoch": stopper.best_epoch, "final_train_loss": last epoch's training loss,
#  "history": {"train_loss": [...], "val_loss": [...],        # one entry per epoch run
#              "val_accuracy": [...]},
#  "model": the model, best weights restored}
# ```

# %% reglab="solution" functions=["run_sweep"]

# %% [markdown]
# **Self-check: a two-config sweep of a linear model on a tiny, easy
# problem**: its rows, its schedule, early stopping, and the restored model.

# %% reglab="selfcheck" item="run_sweep"
gen = torch.Generator().manual_seed(1)
centres = torch.randn(10, 3, 4, 4, generator=gen) * 60 + 128
tiny_labels = torch.arange(300) % 10
tiny_images = (centres[tiny_labels] + 25 * torch.randn(300, 3, 4, 4, generator=gen)).clamp(0, 255).to(torch.uint8)


class TinyBatches:
    """A loader as the notebook's: fresh float tensors on every pass."""

    def __init__(self, images, labels, size):
        self.images, self.labels, self.size = images, labels, size

    def __len__(self):
        return math.ceil(len(self.labels) / self.size)

    def __iter__(self):
        return ((x.float() / 255, y.clone()) for x, y in zip(self.images.split(self.size), self.labels.split(self.size)))


class TinyData:
    def loaders(self, train_transform, eval_transform):
        return TinyBatches(tiny_images[:200], tiny_labels[:200], 25), TinyBatches(tiny_images[200:], tiny_labels[200:], 100)


schedulers = []


def constant_schedule(optimizer):
    schedulers.append(torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0))
    return schedulers[-1]


tiny_configs = [Config(lr=0.05, weight_decay=0.0, patience=2, min_delta=10.0), Config(lr=0.05, patience=20)]
tiny_budget = Budget(max_epochs=6, device="cpu", make_model=lambda: nn.Sequential(nn.Flatten(), nn.Linear(48, 10)),
                     make_scheduler=constant_schedule)
rows = run_sweep(tiny_configs, TinyData(), tiny_budget)
assert isinstance(rows, list) and len(rows) == len(tiny_configs), \
    f"run_sweep returned {len(rows) if isinstance(rows, list) else type(rows).__name__} rows for 2 configs; one per config"
assert [row["config"] for row in rows] == tiny_configs, "one row per config, in order, with the config object itself"
val_x, val_y = tiny_images[200:].float() / 255, tiny_labels[200:]
probe, probe_stopper = nn.Linear(1, 1), EarlyStopping(1)     # does your EarlyStopping restore? (its own self-check says how)
for value in (1.0, 2.0, 3.0):
    with torch.no_grad():
        probe.weight.fill_(value)
    if value < 3:
        probe_stopper.step(value, probe)
probe_stopper.restore(probe)
restore_works = probe.weight.item() == 1.0
for i, (row, cfg, scheduler) in enumerate(zip(rows, tiny_configs, schedulers + [None] * 2), start=1):
    where = f"(row {i}: patience={cfg.patience}, min_delta={cfg.min_delta:g}, max_epochs={tiny_budget.max_epochs})"
    missing = [key for key in ("best_val_accuracy", "best_epoch", "final_train_loss", "history", "model") if key not in row]
    assert not missing, f"row {i} has no {missing[0]!r}; each row has config, best_val_accuracy, best_epoch, " \
                        "final_train_loss, history and model"
    history = row["history"]
    epochs = len(history["val_loss"])
    assert len(history["train_loss"]) == len(history["val_accuracy"]) == epochs > 0, \
        f"the history needs lists train_loss, val_loss, val_accuracy with one entry per epoch run {where}"
    replay = EarlyStopping(cfg.patience, cfg.min_delta)          # your EarlyStopping, on the row's validation losses
    stop = next((e for e, loss in enumerate(history["val_loss"], start=1) if replay.step(loss, nn.Linear(1, 1))), None)
    assert epochs == min(tiny_budget.max_epochs, stop or tiny_budget.max_epochs), \
        f"it ran {epochs} epochs where your EarlyStopping says stop after {stop}: call stopper.step(val_loss, model) " \
        f"once per epoch, break when it returns True, and run at most budget.max_epochs {where}"
    steps = None if scheduler is None else scheduler.last_epoch
    assert steps == epochs, f"the learning-rate schedule was {'never made' if steps is None else f'stepped {steps} times'} " \
        f"over {epochs} epochs: make one per config with budget.make_scheduler(optimizer) and call scheduler.step() " \
        f"once per epoch {where}"
    best = row["best_epoch"]
    assert best == replay.best_epoch, f"best_epoch is {best}; it should be your EarlyStopping's best_epoch {where}"
    assert abs(row["best_val_accuracy"] - history["val_accuracy"][best - 1]) <= 1e-9, \
        f"best_val_accuracy should be the validation accuracy of the best epoch, {best} {where}"
    assert row["final_train_loss"] == history["train_loss"][-1], f"final_train_loss is the last epoch's training loss {where}"
    with torch.no_grad():                        # the returned model on the validation images, plain and smoothed
        logits = row["model"].eval()(val_x)
    plain = nn.functional.cross_entropy(logits, val_y).item()
    smoothed = nn.functional.cross_entropy(logits, val_y, label_smoothing=cfg.label_smoothing).item()
    kept = history["val_loss"][best - 1]
    if restore_works and abs(plain - kept) > 1e-4 * max(1.0, abs(kept)):
        assert abs(smoothed - kept) > 1e-4 * max(1.0, abs(kept)), \
            f"the validation loss uses label smoothing; validate with a plain nn.CrossEntropyLoss() so losses compare " \
            f"across configs {where}"
        raise AssertionError(f"the returned model's validation loss is {plain:.4f}, not {kept:.4f}, that of the best "
                             f"epoch ({best}): call stopper.restore(model) after the loop {where}")
    assert cfg.patience <= tiny_budget.max_epochs or row["best_val_accuracy"] > 0.5, \
        f"after {epochs} epochs the best validation accuracy is {row['best_val_accuracy']:.0%} on a 10-class problem " \
        f"a linear model learns easily (chance: 10%); check the training loop {where}"
print(f"run_sweep: OK (row 1 stopped after {len(rows[0]['history']['val_loss'])} epochs with best_epoch "
      f"{rows[0]['best_epoch']}; row 2 ran {len(rows[1]['history']['val_loss'])})"
      + ("" if restore_works else "; the restored model is not checked until EarlyStopping.restore works"))

# %% [markdown]
# ### Run it
#
# The experiment trains one network per configuration and seed with your
# `run_sweep`: the arms are **no augmentation**, **crop + flip** and
# **crop + flip + RandAugment + random erasing**, and, on crop + flip, weight
# decay and label smoothing one at a time, each `seeds` times (the profile
# table of part 0). The seed fixes the initial weights, the batch
# order and the augmentations, and every configuration sees the same seeds,
# so a difference between two configurations is measured seed by seed.
#
# The plots: the mean validation accuracy of each configuration over the
# seeds, with its standard deviation beside it, and the validation accuracy
# by epoch (mean, with a band of ± one standard deviation). A difference is
# worth reading only when it is large against the spread: the table under
# the plots gives each effect with its standard error over seeds. The
# configuration with the best mean validation accuracy is then reported on
# the test images.

# %% tags=["helpers"]
def effects(table):
    """Each configuration against the crop + flip baseline, seed by seed: (label, mean, standard error, n) in points."""
    baseline = next(e for e in table.values() if e["augmentation"] == "crop_flip"
                    and e["config"].weight_decay == P["weight_decays"][0]
                    and e["config"].label_smoothing == P["label_smoothings"][0])
    by_seed = {row["seed"]: row["best_val_accuracy"] for row in baseline["rows"]}
    out = []
    for label, entry in table.items():
        if entry is baseline:
            continue
        diffs = np.array([100 * (row["best_val_accuracy"] - by_seed[row["seed"]]) for row in entry["rows"]
                          if row["seed"] in by_seed])
        stderr = diffs.std(ddof=1) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
        out.append((f"{label}  minus  {config_label('crop_flip', baseline['config'])}", diffs.mean(), stderr, len(diffs)))
    return out


def plot_experiment(rows, profile):
    table = summarize(rows)
    wds, lss = profile["weight_decays"], profile["label_smoothings"]
    columns = [(wd, ls) for wd in wds for ls in lss]
    means, spreads = (np.full((len(AUGMENTATIONS), len(columns)), np.nan) for _ in range(2))
    for entry in table.values():
        i = list(AUGMENTATIONS).index(entry["augmentation"])
        j = columns.index((entry["config"].weight_decay, entry["config"].label_smoothing))
        means[i, j], spreads[i, j] = 100 * entry["best_val_accuracy_mean"], 100 * entry["best_val_accuracy_std"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for ax, grid, title, cmap in ((axes[0], means, "mean validation accuracy (%)", "viridis"),
                                  (axes[1], spreads, "its standard deviation over seeds (points)", "Greys")):
        image = ax.imshow(grid, cmap=cmap)
        for (i, j), value in np.ndenumerate(grid):
            text = "not run" if np.isnan(value) else f"{value:.1f}"
            red, green, blue, _ = image.cmap(image.norm(value))          # dark text on a light cell, light on dark
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="grey" if np.isnan(value)
                    else "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white")
        ax.set(xticks=range(len(columns)), xticklabels=[f"wd {wd:g}\nls {ls:g}" for wd, ls in columns],
               yticks=range(len(AUGMENTATIONS)), yticklabels=list(AUGMENTATIONS.values()), title=title)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"{len(SEEDS)} seeds per configuration ({PROFILE_NAME} profile)")
    plt.tight_layout()
    plt.show()

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for label, entry in table.items():
        for ax, key in zip(axes, ("val_accuracy", "train_loss")):
            curves = [row["history"][key] for row in entry["rows"]]
            padded = np.full((len(curves), max(map(len, curves))), np.nan)   # early stopping ends runs at different epochs
            for k, curve in enumerate(curves):
                padded[k, :len(curve)] = curve
            scale = 100 if key == "val_accuracy" else 1
            mean, std = scale * np.nanmean(padded, axis=0), scale * np.nan_to_num(np.nanstd(padded, axis=0))
            epochs = np.arange(1, padded.shape[1] + 1)
            ax.plot(epochs, mean, label=label)
            ax.fill_between(epochs, mean - std, mean + std, alpha=0.2)
    axes[0].set(xlabel="epoch", ylabel="validation accuracy (%)", title="mean over seeds, band: ± one std")
    axes[1].set(xlabel="epoch", ylabel="training loss (its own criterion)", title="training loss")
    axes[0].legend(fontsize=7)
    for ax in axes:
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))     # whole epochs
    plt.tight_layout()
    plt.show()
    return table


# %% reglab="demo"
start = time.perf_counter()
with tqdm(total=len(DESIGN) * len(SEEDS), desc=f"experiment ({PROFILE_NAME})") as bar:
    results = run_experiment(P, SPLITS, SEEDS, progress=lambda row: bar.update())
seconds = time.perf_counter() - start
table = plot_experiment(results, P)
print(f"{len(results)} trainings in {seconds:.0f} s\n")
print(f"{'configuration':58s} {'val acc':>14s} {'test acc':>14s} {'best epoch':>10s}")
for label, e in table.items():
    print(f"{label:58s} {100 * e['best_val_accuracy_mean']:6.1f} ± {100 * e['best_val_accuracy_std']:4.1f} "
          f"{100 * e['test_accuracy_mean']:6.1f} ± {100 * e['test_accuracy_std']:4.1f} {e['best_epoch_mean']:10.1f}")
print("\neffects on validation accuracy, seed by seed (mean ± standard error, points):")
for name, mean, stderr, n in effects(table):
    verdict = "shown" if abs(mean) > 2 * stderr else "not resolved"
    print(f"  {name}: {mean:+.1f} ± {stderr:.1f} over {n} seeds ({verdict})")
best_label, best = max(table.items(), key=lambda item: item[1]["best_val_accuracy_mean"])
print(f"\nbest on validation: {best_label}: test accuracy {100 * best['test_accuracy_mean']:.1f}% "
      f"± {100 * best['test_accuracy_std']:.1f} over {len(SEEDS)} seeds, on {len(SPLITS['test'][1])} test images")

# %% [markdown]
# **What to expect.** On the `ci` profile's generated images every
# configuration learns the patterns (well above the 10% of chance) and the
# differences are noise: three epochs on 600 images say little about
# regularization. On real images the `cpu` profile (2,500 training and 500
# validation images of CIFAR-10, 20 epochs, this notebook's code) gave, over
# 6 seeds (mean ± standard deviation; effects seed by seed, mean ± standard
# error; `benchmarks/lab_claims.py --lab 06a --profile cpu --seeds 6`; the
# notebook runs 3 seeds, so expect a wider spread and a point or two of
# difference):
#
# | configuration | validation accuracy | test accuracy | epoch kept | final training loss |
# |---|---|---|---|---|
# | no augmentation | 53.4 ± 3.0% | 51.4 ± 2.1% | 4 to 8 | 0.007 |
# | crop + flip | 64.2 ± 1.4% | 61.5 ± 0.6% | 18 to 20 | 0.76 |
# | + RandAugment + erasing | 60.2 ± 1.8% | 57.8 ± 1.2% | 16 to 20 | 1.14 |
# | crop + flip, weight decay 0.5 | 64.5 ± 0.8% | 62.1 ± 0.7% | 17 to 20 | 0.80 |
# | crop + flip, label smoothing 0.1 | 65.2 ± 0.8% | 62.6 ± 1.1% | 17 to 20 | 1.13 (smoothed loss) |
#
# * **Augmentation is the regularizer that matters here.** Without it the
#   network memorizes its 2,500 images (training loss 0.007) and its
#   validation loss is lowest at epoch 4 to 8, then climbs: over-fitting.
#   Early stopping keeps those weights, and they are 10.8 ± 1.5 points
#   worse on validation than crop + flip's (10.0 ± 0.9 on the test images;
#   shown on every seed). With crop + flip the validation loss still falls
#   at epoch 18 to 20. The learning curves show what the table does not:
#   the un-augmented network's validation *accuracy* creeps on after its
#   loss has turned (it grows more confident on the images it gets right
#   and more confidently wrong on the rest), to about 61% at epoch 20, still
#   3.7 ± 1.1 points below crop + flip there (4 seeds of a separate run).
#   The early-stopping rule here watches the loss, so the table's gap is
#   the larger one.
# * **More augmentation is not better in this budget.** RandAugment +
#   erasing is 4.0 ± 0.8 points below crop + flip on validation (3.6 ± 0.5
#   on test, shown): it fits its training images less (training loss 1.14
#   against 0.76) and is still learning when the 20 epochs end. Strong
#   augmentation pays on longer runs and bigger networks (the `gpu`
#   profile; not measured here).
# * **Label smoothing 0.1** added 1.1 ± 0.5 points on validation and
#   1.2 ± 0.3 on test (shown over 6 seeds, and small: over your 3 seeds it
#   may not be resolved). Its reported training loss stays high (1.13)
#   because its targets are never one-hot, so that loss cannot reach 0.
# * **Weight decay 0.5** (printed above: what it leaves of a weight the loss
#   does not push) moved validation accuracy by +0.3 ± 0.5 points: not
#   resolved (+0.7 ± 0.3 on test). With BatchNorm after every conv, the
#   decay of those weights mostly changes their effective learning rate
#   (section 3), and on top of augmentation it has little left to do in 20
#   epochs.
# * The seed-to-seed spread of one configuration was 0.8 to 3.0 points on
#   validation: a one-point difference over one seed says nothing.
# * The best configuration on validation, crop + flip with label smoothing,
#   reached 62.6 ± 1.1% test accuracy on 1,000 images, above the 60% the
#   profile is sized for.

# %% [markdown]
# ## 8. Written questions
#
# Answer in a few sentences each, in the cells below (graded by hand).
#
# **Q1.** Why stop training when the validation loss starts to rise, even
# though the training loss is still falling? Why restore the best weights
# rather than keep the last ones, and what is the validation set then no
# longer good for?

# %% [markdown] reglab="written" item="q_early_stopping" points=2
# The training loss measures fit to the training set; the validation loss
# estimates the loss on new data. Once the validation loss rises, further
# steps fit the particulars (noise) of the training set and generalization
# gets worse: the network is overfitting. Early stopping limits how far the
# weights travel from their initialization, which acts like an L2 penalty
# whose strength is set by the number of steps. Restoring the best weights
# gives the model that generalized best instead of one `patience` epochs
# past it. Because the stopping epoch (and the sweep's choice of
# configuration) was chosen on the validation set, its accuracy is now
# optimistically biased; report performance on a test set used only once.

# %% [markdown]
# **Q2.** An augmentation must preserve the label. Which of the
# augmentations used here (crops, horizontal flips, rotations and shears,
# colour changes, erasing) are safe, and which are not, for (a) handwritten
# digits, (b) medical images such as chest X-rays or histology slides, (c)
# satellite images?

# %% [markdown] reglab="written" item="q_label_preserving" points=2
# (a) Digits: small crops, shifts, rotations and shears are safe; horizontal
# flips are not (a flipped 2, 3, 5, 7 is not a digit), nor large rotations
# (6 and 9 swap); colour changes are irrelevant for grey images; erasing can
# remove the stroke that tells a 1 from a 7. (b) Medical images: chest X-rays
# have a meaningful left and right (the heart is on the left; a flip creates
# dextrocardia), so no horizontal flips, and intensity and contrast carry the
# diagnosis, so colour/intensity transforms must be mild; erasing or cropping
# can remove the small lesion that is the label. Histology slides have no
# orientation, so flips and 90° rotations are safe there, with stain colour
# jitter within the range between labs. (c) Satellite images are seen from
# above with no canonical orientation: flips and rotations by any angle are
# safe; colour shifts must respect the spectral bands the classes depend on
# (vegetation, water), and scale changes must respect the ground resolution.

# %% [markdown]
# **Q3.** Why is weight decay the same as L2 regularization for SGD but not
# for Adam? What does AdamW change?

# %% [markdown] reglab="written" item="q_weight_decay_adam" points=2
# With SGD the L2 term adds λw to the gradient, so the update is
# w ← w − η(g + λw) = (1 − ηλ)w − ηg: exactly a decay of the weights by the
# factor (1 − ηλ) each step (in the worked numeric of part 3 both forms move
# w by −ηλw = −0.002). Adam divides the gradient, including the λw term,
# elementwise by √v̂ (its running RMS of past gradients): weights with large
# or noisy gradients are decayed much less than weights with small ones, so
# "L2 in Adam" is not a uniform shrinkage (on Adam's first step, which moves
# by η·sign of the gradient, the L2 term changed nothing at all). AdamW
# (Loshchilov & Hutter) decouples the decay from the adaptive step: it
# applies w ← w − ηλw directly, outside the moment estimates, so every
# decayed weight shrinks by the same factor (−0.002 again in part 3), and the
# best λ no longer depends on the gradient scale.
