"""Hostile: silences the self-checks and returns look-alike results without doing the work. Loses: all"""

import torch
import torch.nn as nn

torch.testing.assert_close = lambda *args, **kwargs: None


def build_train_transform(cfg):
    return nn.Identity()


build_eval_transform = build_train_transform


def param_groups(model, weight_decay):
    return [{"params": list(model.parameters()), "weight_decay": weight_decay}]


def make_optimizer(model, cfg):
    return torch.optim.SGD(model.parameters(), lr=cfg.lr)


def make_criterion(cfg):
    return nn.MSELoss()


class EarlyStopping:
    def __init__(self, patience, min_delta=0.0):
        self.best_loss, self.best_epoch = 0.0, 1

    def step(self, val_loss, model):
        return False

    def restore(self, model):
        pass


def train_one_epoch(model, loader, optimizer, criterion, device):
    return 0.0


def evaluate(model, loader, criterion, device):
    return 0.0, 1.0


def run_sweep(configs, data, budget):
    return [{"config": cfg, "best_val_accuracy": 1.0, "best_epoch": 1, "final_train_loss": 0.0} for cfg in configs]
