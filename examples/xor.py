"""XOR: the smallest problem a single neuron cannot solve, and a hidden layer can.

Run: python examples/xor.py
"""

import numpy as np

import glassnet as g

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y = np.array([0, 1, 1, 0])

# One neuron (no hidden layer): a straight line cannot separate XOR.
single = g.Sequential([g.Dense(2, 1, seed=0), g.Sigmoid()])
single.fit(X, y, optimizer=g.SGD(lr=0.5), epochs=2000, batch_size=4, verbose=0, seed=0)
print("one neuron:      ", single.predict(X).ravel().round(2), "(stuck near 0.5)")

# A hidden layer of 4 tanh neurons bends the boundary.
rng = np.random.default_rng(0)         # one generator: every initial weight follows from the seed
model = g.Sequential([
    g.Dense(2, 4, seed=rng), g.Tanh(),           # hidden layer (Glorot initialization, the default)
    g.Dense(4, 1, seed=rng), g.Sigmoid(),        # output neuron: P(y = 1)
])
history = model.fit(X, y, optimizer=g.SGD(lr=0.5, momentum=0.9), epochs=500, batch_size=4, verbose=0, seed=0)
print("with hidden layer:", model.predict(X).ravel().round(2), "targets", y)
print(f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.4f} after {history.epochs} epochs, "
      f"{history.iterations} iterations")
print(model.neuron(0, 0, X))           # one hidden neuron: w, b, z = w.x + b, a = tanh(z)
accuracy = float(np.mean((model.predict(X).ravel() > 0.5) == y))
print(f"accuracy {accuracy:.2f}")
