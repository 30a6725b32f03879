"""Correct, written differently: torchvision's v1 transforms, parameter groups by set difference,
EarlyStopping that deep-copies the model, loops that sum Python floats."""
import copy

import torch
import torch.nn as nn
from torchvision import transforms as V1

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]


def build_train_transform(cfg):
    steps = [V1.RandomHorizontalFlip(), V1.RandomCrop(32, padding=4, padding_mode="reflect")]
    if cfg.randaugment:
        steps += [V1.RandAugment(cfg.num_ops, cfg.magnitude)]
    steps += [V1.ConvertImageDtype(torch.float32)]
    steps += [V1.RandomErasing(p=cfg.erasing)] if cfg.erasing > 0 else []
    return V1.Compose(steps + [V1.Normalize(MEAN, STD)])


def build_eval_transform(cfg):
    return V1.Compose([V1.ConvertImageDtype(torch.float32), V1.Normalize(MEAN, STD)])


def param_groups(model, weight_decay):
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    decay = {m.weight for m in model.modules() if isinstance(m, layers)}
    trainable = [p for p in dict.fromkeys(model.parameters()) if p.requires_grad]
    return [{"params": [p for p in trainable if p in decay], "weight_decay": weight_decay},
            {"params": [p for p in trainable if p not in decay], "weight_decay": 0.0}]


def make_optimizer(model, cfg):
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999))


def make_criterion(cfg):
    return nn.CrossEntropyLoss(reduction="mean", label_smoothing=float(cfg.label_smoothing))


class EarlyStopping:
    def __init__(self, patience: int, min_delta: float = 0.0):
        self.patience, self.min_delta = patience, min_delta
        self.history = []
        self.best_loss, self.best_epoch, self.best_model = float("inf"), 0, None

    def step(self, val_loss, model):
        self.history.append(float(val_loss))
        if self.best_loss - self.history[-1] > self.min_delta:
            self.best_loss, self.best_epoch = self.history[-1], len(self.history)
            self.best_model = copy.deepcopy(model)
        return len(self.history) - self.best_epoch >= self.patience

    def restore(self, model):
        model.load_state_dict(self.best_model.state_dict())


def train_one_epoch(model, loader, optimizer, criterion, device):
    model.train()
    losses, sizes = [], []
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = criterion(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(targets.numel())
    return sum(l * n for l, n in zip(losses, sizes)) / sum(sizes)


@torch.no_grad()
def evaluate(model, loader, criterion, device):
    model.eval()
    loss_sum, hits, seen = 0.0, 0, 0
    for inputs, targets in loader:
        logits = model(inputs.to(device))
        targets = targets.to(device)
        loss_sum += criterion(logits, targets).item() * len(targets)
        hits += int((logits.argmax(-1) == targets).sum())
        seen += len(targets)
    return loss_sum / seen, hits / seen


def run_sweep(configs, data, budget):
    results = []
    for cfg in configs:
        model = budget.make_model()
        train_loader, val_loader = data.loaders(build_train_transform(cfg), build_eval_transform(cfg))
        optimizer, criterion = make_optimizer(model, cfg), make_criterion(cfg)
        lr_schedule = budget.make_scheduler(optimizer)
        stopper = EarlyStopping(cfg.patience, min_delta=cfg.min_delta)
        history = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        epoch = 0
        while epoch < budget.max_epochs:
            epoch += 1
            history["train_loss"].append(train_one_epoch(model, train_loader, optimizer, criterion, budget.device))
            lr_schedule.step()
            loss, accuracy = evaluate(model, val_loader, nn.CrossEntropyLoss(), budget.device)
            history["val_loss"].append(loss)
            history["val_accuracy"].append(accuracy)
            stop = stopper.step(loss, model)
            if stop:
                break
        stopper.restore(model)
        results.append(dict(config=cfg, best_val_accuracy=history["val_accuracy"][stopper.best_epoch - 1],
                            best_epoch=stopper.best_epoch, final_train_loss=history["train_loss"][-1],
                            history=history, model=model))
    return results
