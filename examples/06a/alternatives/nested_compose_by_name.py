"""Correct, written differently: ToImage and nested Compose, RandomResizedCrop, groups by module type
through named_modules, EarlyStopping with a patience counter that counts down."""
import torch
from torch import nn
from torchvision.transforms import v2

NORMALIZE = v2.Normalize(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))


def build_train_transform(cfg):
    geometry = v2.Compose([v2.ToImage(), v2.RandomResizedCrop(32, scale=(0.6, 1.0), antialias=True),
                           v2.RandomHorizontalFlip(p=0.5)])
    colour = [v2.RandAugment(num_ops=cfg.num_ops, magnitude=cfg.magnitude)] if cfg.randaugment else []
    erase = [v2.RandomErasing(cfg.erasing)] if cfg.erasing else []
    return v2.Compose([geometry, *colour, v2.ToDtype(torch.float32, scale=True), *erase, NORMALIZE, v2.ToPureTensor()])


def build_eval_transform(cfg):
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), NORMALIZE, v2.ToPureTensor()])


def param_groups(model, weight_decay):
    groups = [{"params": [], "weight_decay": weight_decay}, {"params": [], "weight_decay": 0.0}]
    seen = set()
    for _, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if param in seen:
                continue
            seen.add(param)
            decays = name == "weight" and type(module) in (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
            groups[0 if decays else 1]["params"].append(param)
    return groups


def make_optimizer(model, cfg):
    return torch.optim.AdamW(params=param_groups(model, weight_decay=cfg.weight_decay), lr=cfg.lr)


def make_criterion(cfg):
    return torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)


class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.patience_left = patience
        self.best_loss = None
        self.best_epoch = 0
        self.epoch = 0
        self.saved = {}

    def step(self, val_loss, model):
        self.epoch += 1
        if self.best_loss is None or val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.patience_left = val_loss, self.epoch, self.patience
            self.saved = {name: tensor.clone() for name, tensor in model.state_dict().items()}
        else:
            self.patience_left -= 1
        return self.patience_left <= 0

    def restore(self, model):
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                tensor.copy_(self.saved[name])


def train_one_epoch(model, loader, optimizer, criterion, device):
    model.train(True)
    running, n = 0.0, 0
    for batch in loader:
        x, y = (t.to(device) for t in batch)
        optimizer.zero_grad(set_to_none=False)
        out = model(x)
        loss = criterion(out, y)
        loss.backward()
        optimizer.step()
        running += loss.item() * x.shape[0]
        n += x.shape[0]
    return running / n


def evaluate(model, loader, criterion, device):
    model.train(False)
    total, right, n = 0.0, 0.0, 0
    with torch.inference_mode():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total += float(criterion(logits, y)) * len(y)
            right += float((logits.argmax(1) == y).float().sum())
            n += len(y)
    return total / n, right / n


def run_sweep(configs, data, budget):
    def one(cfg):
        model = budget.make_model()
        loaders = data.loaders(build_train_transform(cfg), build_eval_transform(cfg))
        optimizer, criterion, plain = make_optimizer(model, cfg), make_criterion(cfg), nn.CrossEntropyLoss()
        schedule, stopper = budget.make_scheduler(optimizer), EarlyStopping(cfg.patience, cfg.min_delta)
        train_loss, val_loss, val_accuracy = [], [], []
        for _ in range(budget.max_epochs):
            train_loss.append(train_one_epoch(model, loaders[0], optimizer, criterion, budget.device))
            schedule.step()
            loss, accuracy = evaluate(model, loaders[1], plain, budget.device)
            val_loss.append(loss)
            val_accuracy.append(accuracy)
            if stopper.step(loss, model):
                break
        stopper.restore(model)
        return {"config": cfg, "best_epoch": stopper.best_epoch, "best_val_accuracy": val_accuracy[stopper.best_epoch - 1],
                "final_train_loss": train_loss[-1], "model": model,
                "history": {"train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy}}
    return [one(cfg) for cfg in configs]
