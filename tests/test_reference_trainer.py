"""The Trainer: the book's loop, prints and lists; reference and fast versions alike."""
import numpy as np
import pytest

import fastscratch
import fastscratch.reference as reference


@pytest.mark.parametrize("api", [reference, fastscratch], ids=["reference", "fast"])
def test_trainer_lists_and_prints(api, mnist, capsys):
    (x, t), (xt, tt) = mnist
    np.random.seed(0)
    net = api.TwoLayerNet(784, 20, 10)
    tr = api.Trainer(net, x[:300], t[:300], xt[:100], tt[:100], epochs=2, mini_batch_size=100,
                     optimizer='rmsprop', optimizer_param={'lr': 0.01}, verbose=True)
    tr.train()
    assert len(tr.train_loss_list) == 6
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("train loss:")
    assert out[1].startswith("=== epoch:1, train acc:")
    assert out[-2] == "=============== Final Test Accuracy ==============="
    assert out[-1].startswith("test acc:")
    assert tr.train_loss_list[-1] < tr.train_loss_list[0]


def test_trainer_draws_batches_like_the_book(mnist):
    (x, t), (xt, tt) = mnist
    np.random.seed(3)
    net = reference.TwoLayerNet(784, 5, 10)
    tr = reference.Trainer(net, x[:50], t[:50], xt[:10], tt[:10], epochs=1,
                           mini_batch_size=10, verbose=False)
    seen = []
    gradient = net.gradient
    net.gradient = lambda xb, tb: (seen.append(xb.copy()), gradient(xb, tb))[1]
    state = np.random.get_state()
    tr.train_step()
    np.random.set_state(state)
    mask = np.random.choice(50, 10)
    # the network's gradient saw exactly the batch np.random.choice draws
    np.testing.assert_array_equal(seen[0], x[:50][mask])


def test_unknown_optimizer_is_a_clear_error(mnist):
    (x, t), (xt, tt) = mnist
    with pytest.raises(ValueError, match="optimizer must be one of"):
        reference.Trainer(reference.TwoLayerNet(784, 5, 10), x[:10], t[:10], xt[:10], tt[:10],
                          optimizer='rmsprpo')
