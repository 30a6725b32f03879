"""A correct 06b solution written differently: computes in float64 and casts back, list cache, backward through x_hat and std."""


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    dtype = x.dtype
    xd, gd, bd = x.double(), gamma.double(), beta.double()
    if training:
        n = xd.shape[0]
        mean = xd.sum(dim=0) / n
        var = ((xd - mean) ** 2).sum(dim=0) / n
        unbiased = ((xd - mean) ** 2).sum(dim=0) / (n - 1)
        running_mean[:] = ((1 - momentum) * running_mean.double() + momentum * mean).to(running_mean.dtype)
        running_var[:] = ((1 - momentum) * running_var.double() + momentum * unbiased).to(running_var.dtype)
        std = (var + eps).sqrt()
        x_hat = (xd - mean) / std
        return (gd * x_hat + bd).to(dtype), [x_hat, std, gd, dtype]
    out = gd * (xd - running_mean.double()) / (running_var.double() + eps).sqrt() + bd
    return out.to(dtype), None


def batchnorm_backward(dout, cache):
    x_hat, std, gamma, dtype = cache
    g = dout.double()
    n = g.shape[0]
    dbeta = g.sum(0)
    dgamma = (g * x_hat).sum(0)
    dx_hat = g * gamma
    dstd = -(dx_hat * x_hat).sum(0) / std          # x_hat = xc / std, via xc = x_hat * std
    dvar = dstd / (2 * std)
    dxc = dx_hat / std + dvar * 2 * x_hat * std / n
    dx = dxc - dxc.mean(0)
    return dx.to(dtype), dgamma.to(dtype), dbeta.to(dtype)


def batchnorm_backward_fast(dout, cache):
    x_hat, std, gamma, dtype = cache
    g = dout.double()
    dbeta, dgamma = g.sum(0), (g * x_hat).sum(0)
    n = g.shape[0]
    dx = gamma / (n * std) * (n * g - dbeta - x_hat * dgamma)
    return dx.to(dtype), dgamma.to(dtype), dbeta.to(dtype)
