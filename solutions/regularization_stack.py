"""Lab 06a: the regularization stack on CIFAR-10 (weight decay x augmentation x label smoothing).

``cfg`` is any object with the attributes of the notebook's ``Config``: lr,
weight_decay, randaugment, num_ops, magnitude, erasing, label_smoothing,
patience, min_delta. Images reach the transforms as uint8 tensors of shape
(..., 3, 32, 32), one image or a small group of them.

The bodies import what they use (torchvision, torch.nn), so that each
function also runs on its own, outside the notebook.
"""

import torch


def build_train_transform(cfg):
    """The training augmentation: random crop and flip, RandAugment, erasing, normalization.

    uint8 ops (crop, flip, RandAugment) come before the conversion to float;
    RandomErasing works on the float image; Normalize is last, so the erased
    patch and the rest of the image are normalized alike.
    """
    ### BEGIN SOLUTION
    from torchvision.transforms import v2 as T

    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)   # CIFAR_MEAN, CIFAR_STD
    steps = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    if cfg.randaugment:
        steps.append(T.RandAugment(num_ops=cfg.num_ops, magnitude=cfg.magnitude))
    steps.append(T.ToDtype(torch.float32, scale=True))
    if cfg.erasing > 0:
        steps.append(T.RandomErasing(p=cfg.erasing))
    steps.append(T.Normalize(mean, std))
    return T.Compose(steps)
    ### END SOLUTION


def build_eval_transform(cfg):
    """The evaluation transform: to float in [0, 1] and normalize; deterministic, no augmentation."""
    ### BEGIN SOLUTION
    from torchvision.transforms import v2 as T

    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)   # CIFAR_MEAN, CIFAR_STD
    return T.Compose([T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)])
    ### END SOLUTION


def param_groups(model, weight_decay):
    """Two optimizer groups: Linear/Conv weights decay, everything else does not.

    Biases, the scales and shifts of normalization layers and embedding
    tables are left alone, by convention: they are few, and shrinking a
    normalization scale shrinks the signal rather than simplifying the
    function. Each trainable parameter appears exactly once, even if a module
    is reused.
    """
    ### BEGIN SOLUTION
    from torch import nn

    decayed_layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
                      nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if name == "weight" and isinstance(module, decayed_layers):
                decay.append(param)
            else:
                no_decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
    ### END SOLUTION


def make_optimizer(model, cfg):
    """AdamW (decoupled weight decay) over ``param_groups(model, cfg.weight_decay)`` at ``cfg.lr``."""
    ### BEGIN SOLUTION
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    ### END SOLUTION


def make_criterion(cfg):
    """Cross entropy with label smoothing ``cfg.label_smoothing`` (0 = plain cross entropy)."""
    ### BEGIN SOLUTION
    return torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    ### END SOLUTION


class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs in a row.

    An epoch improves if its loss is below ``best_loss - min_delta`` (strictly).
    ``step(val_loss, model)`` is called once per epoch and returns True when
    training should stop; ``best_epoch`` counts those calls from 1 (the first
    epoch is epoch 1). On every improvement it keeps a copy of the model's
    weights (a copy, not a reference to the live tensors), and ``restore``
    loads that copy back into the model.
    """

    def __init__(self, patience, min_delta=0.0):
        ### BEGIN SOLUTION
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.best_state = None
        self.epochs_seen = 0
        self.epochs_without_improvement = 0
        ### END SOLUTION

    def step(self, val_loss, model):
        ### BEGIN SOLUTION
        self.epochs_seen += 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = float(val_loss), self.epochs_seen
            self.epochs_without_improvement = 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.patience
        ### END SOLUTION

    def restore(self, model):
        ### BEGIN SOLUTION
        model.load_state_dict(self.best_state)
        ### END SOLUTION


def train_one_epoch(model, loader, optimizer, criterion, device):
    """One pass over ``loader`` in training mode; returns the mean training loss per sample (a float)."""
    ### BEGIN SOLUTION
    model.train()
    total, count = torch.zeros((), device=device), 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(y)
        count += len(y)
    return total.item() / count
    ### END SOLUTION


def evaluate(model, loader, criterion, device):
    """Mean loss per sample and accuracy (a fraction in [0, 1]) over ``loader``, in eval mode, without gradients."""
    ### BEGIN SOLUTION
    model.eval()
    total, correct, count = torch.zeros((), device=device), torch.zeros((), device=device), 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            total += criterion(logits, y) * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
            count += len(y)
    return total.item() / count, correct.item() / count
    ### END SOLUTION


def run_sweep(configs, data, budget):
    """Train one fresh model per config with early stopping; return one row (a dict) per config.

    ``data.loaders(train_transform, eval_transform)`` gives ``(train_loader,
    val_loader)``; ``budget`` has ``make_model()`` (a fresh model on the
    device), ``make_scheduler(optimizer)`` (the learning-rate schedule,
    stepped once per epoch), ``device`` and ``max_epochs``. Validation uses plain cross
    entropy, so losses compare across label-smoothing settings. Each row:
    ``config``, ``best_val_accuracy`` (at ``best_epoch``, the epoch whose
    weights were restored), ``best_epoch``, ``final_train_loss``, ``history``
    (lists ``train_loss``, ``val_loss``, ``val_accuracy``, one entry per
    epoch run) and ``model`` (with the best weights restored).
    """
    ### BEGIN SOLUTION
    rows = []
    for cfg in configs:
        model = budget.make_model()
        train_loader, val_loader = data.loaders(build_train_transform(cfg), build_eval_transform(cfg))
        optimizer, criterion = make_optimizer(model, cfg), make_criterion(cfg)
        scheduler = budget.make_scheduler(optimizer)
        val_criterion = torch.nn.CrossEntropyLoss()
        stopper = EarlyStopping(cfg.patience, cfg.min_delta)
        history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        for _ in range(budget.max_epochs):
            history["train_loss"].append(train_one_epoch(model, train_loader, optimizer, criterion, budget.device))
            scheduler.step()
            val_loss, val_accuracy = evaluate(model, val_loader, val_criterion, budget.device)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
            if stopper.step(val_loss, model):
                break
        stopper.restore(model)
        rows.append({"config": cfg, "best_val_accuracy": history["val_accuracy"][stopper.best_epoch - 1],
                     "best_epoch": stopper.best_epoch, "final_train_loss": history["train_loss"][-1],
                     "history": history, "model": model})
    return rows
    ### END SOLUTION
