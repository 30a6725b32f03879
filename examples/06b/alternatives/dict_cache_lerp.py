"""A correct 06b solution written differently: dict cache, torch.var, lerp_ for the running stats."""
import torch


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    if training:
        mean = x.mean(0, keepdim=True)
        var = x.var(0, unbiased=False, keepdim=True)
        x_hat = (x - mean) * torch.rsqrt(var + eps)
        n = x.size(0)
        running_mean.lerp_(mean.squeeze(0), momentum)
        running_var.lerp_(var.squeeze(0) * (n / (n - 1)), momentum)
        return x_hat * gamma + beta, {"x_hat": x_hat, "inv_std": torch.rsqrt(var + eps), "gamma": gamma,
                                      "xc": x - mean, "var": var, "eps": eps}
    return (x - running_mean) * torch.rsqrt(running_var + eps) * gamma + beta, None


def batchnorm_backward(dout, cache):
    xc, eps, gamma = cache["xc"], cache["eps"], cache["gamma"]
    n = dout.size(0)
    sq = xc ** 2
    v = sq.mean(0, keepdim=True)
    s = (v + eps) ** 0.5
    i = 1 / s
    xh = xc * i
    dbeta = dout.sum(0)
    dgamma = (dout * xh).sum(0)
    dxh = dout * gamma
    di = (dxh * xc).sum(0, keepdim=True)
    dxc1 = dxh * i
    ds = di * (-1 / s ** 2)
    dv = ds * 0.5 / (v + eps) ** 0.5
    dsq = torch.ones_like(sq) / n * dv
    dxc2 = 2 * xc * dsq
    dxc = dxc1 + dxc2
    dmu = -dxc.sum(0, keepdim=True)
    dx = dxc + torch.ones_like(dxc) / n * dmu
    return dx, dgamma, dbeta


def batchnorm_backward_fast(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dxh = dout * gamma
    dx = inv_std * (dxh - dxh.mean(0, keepdim=True) - x_hat * (dxh * x_hat).mean(0, keepdim=True))
    return dx, (dout * x_hat).sum(0), dout.sum(0)
