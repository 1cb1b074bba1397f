"""Show, Attend and Tell: Dense image encoder, Bahdanau attention, GRU decoder.

Shapes follow the seed (encoder 256, attention 512, GRU 512, embedding 256, fc 512 → vocab)
with three deliberate changes:

- the GRU carries its hidden state from step to step (the seed's tutorial re-initialises the
  GRU every step and only feeds the hidden state to the attention);
- dropout on the encoded features, the embedding and before the output layer, and the
  paper's doubly stochastic attention penalty, because the plain model overfits Flickr8k
  after about five epochs;
- training runs the whole caption in one ``tf.function`` with the attention keys ``W1·f``
  computed once per photo instead of once per word, and the output layers applied to all
  steps at once.

With ``concepts > 0`` the encoded features end with that many *concept* positions (the
classifier's best-scored everyday groups, converter/concepts.py) after the grid cells: the
decoder step is unchanged, it attends over ``grid + concepts`` positions.

``step`` is the single decoding step that the export turns into ``decoder_step.tflite``; it
is built from ``GRUCell`` so the converter emits builtin ops only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
import tensorflow as tf
from keras import layers

from converter.text import END_ID, PAD_ID, START_ID


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    feature_channels: int = 1280
    feature_dim: int = 256
    attention_units: int = 512
    units: int = 512
    embedding_dim: int = 256
    dropout: float = 0.5
    attention_penalty: float = 1.0
    label_smoothing: float = 0.0
    concepts: int = 0  # concept positions after the grid (0: grid only, as before)
    concept_groups: int = 0  # size of the concept table (ids the encoder may pass)

    def to_dict(self) -> dict:
        return asdict(self)


class CaptionModel(keras.Model):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        c = config
        self.encoder = layers.Dense(c.feature_dim, activation="relu", name="encoder")
        self.w1 = layers.Dense(c.attention_units, name="attention_w1")
        self.w2 = layers.Dense(c.attention_units, name="attention_w2")
        self.v = layers.Dense(1, name="attention_v")
        self.embedding = layers.Embedding(c.vocab_size, c.embedding_dim, name="embedding")
        self.cell = layers.GRUCell(c.units, name="gru")
        self.fc1 = layers.Dense(c.units, name="fc1")
        self.fc2 = layers.Dense(c.vocab_size, name="fc2")
        self.drop_features = layers.Dropout(c.dropout)
        self.drop_embedding = layers.Dropout(c.dropout)
        self.drop_output = layers.Dropout(c.dropout)
        if c.concepts:
            self.concept_embedding = layers.Embedding(
                c.concept_groups, c.embedding_dim, name="concept_embedding"
            )
            self.concept_encoder = layers.Dense(
                c.feature_dim, activation="relu", name="concept_encoder"
            )

    def build_all(self) -> None:
        """Create every variable (Keras builds lazily) so checkpoints can be restored."""
        c = self.config
        features = tf.zeros([1, 4, c.feature_channels])
        concepts = self.no_concepts(1)
        encoded = self.encode(features, concepts)
        self.step(tf.zeros([1], tf.int32), tf.zeros([1, c.units]), encoded)
        self.built = True

    def no_concepts(self, batch: int):
        k = self.config.concepts
        return tf.zeros([batch, k], tf.int32), tf.zeros([batch, k], tf.float32)

    # -- pieces shared by training and the exported graphs ---------------------------------
    def encode(self, backbone_features, concepts=None, training: bool = False):
        """``[B, L, C]`` grid (+ ``(ids [B, K], scores [B, K])`` concepts) → ``[B, L+K, D]``."""
        encoded = self.drop_features(self.encoder(backbone_features), training=training)
        if not self.config.concepts:
            return encoded
        ids, scores = concepts
        # The score enters as a feature (and its log, as the classifier's evidence is
        # multiplicative), so a 0.9 "pizza" and a 0.02 "pizza" are different positions.
        scores = tf.cast(scores, tf.float32)[..., None]
        slot = tf.concat(
            [
                self.concept_embedding(ids),
                scores,
                tf.math.log(scores + 1e-4) / 10.0,
            ],
            axis=-1,
        )
        slots = self.drop_features(self.concept_encoder(slot), training=training)
        return tf.concat([encoded, slots], axis=1)

    def _attend(self, encoded, keys, hidden):
        score = self.v(tf.nn.tanh(keys + self.w2(hidden)[:, None, :]))  # [B, L, 1]
        alpha = tf.nn.softmax(score, axis=1)
        context = tf.reduce_sum(alpha * encoded, axis=1)
        return context, alpha[..., 0]

    def _cell(self, token_embedding, context, hidden, training: bool = False):
        x = tf.concat([context, token_embedding], axis=-1)
        output, _ = self.cell(x, [hidden], training=training)
        return output

    def _logits(self, hidden, training: bool = False):
        return self.fc2(self.drop_output(self.fc1(hidden), training=training))

    def step(self, token, hidden, encoded):
        """One decoding step: ``(token [B], hidden [B,U], encoded [B,L,D])`` →
        ``(logits [B,V], new hidden [B,U], attention [B,L])``."""
        keys = self.w1(encoded)
        context, alpha = self._attend(encoded, keys, hidden)
        new_hidden = self._cell(self.embedding(token), context, hidden)
        return self._logits(new_hidden), new_hidden, alpha

    # -- training ------------------------------------------------------------------------------
    def teacher_forced(self, backbone_features, concepts, tokens, training: bool = False):
        """Logits ``[B, T, V]`` and attention ``[B, T, L]`` for input tokens ``[B, T]``."""
        encoded = self.encode(backbone_features, concepts, training=training)
        keys = self.w1(encoded)
        embedded = self.drop_embedding(self.embedding(tokens), training=training)
        batch, length = tf.shape(tokens)[0], tf.shape(tokens)[1]
        hidden = tf.zeros([batch, self.config.units])
        hiddens = tf.TensorArray(tf.float32, size=length)
        alphas = tf.TensorArray(tf.float32, size=length)
        # A graph loop (not unrolled): one trace serves every bucket length.
        for t in tf.range(length):
            context, alpha = self._attend(encoded, keys, hidden)
            hidden = self._cell(embedded[:, t], context, hidden, training=training)
            hiddens = hiddens.write(t, hidden)
            alphas = alphas.write(t, alpha)
        logits = self._logits(tf.transpose(hiddens.stack(), [1, 0, 2]), training=training)
        return logits, tf.transpose(alphas.stack(), [1, 0, 2])

    def caption_loss(self, backbone_features, concepts, inputs, targets, training: bool = False):
        """Masked cross-entropy per token, plus the doubly stochastic attention penalty."""
        logits, alphas = self.teacher_forced(backbone_features, concepts, inputs, training=training)
        mask = tf.cast(tf.not_equal(targets, PAD_ID), tf.float32)
        xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        objective = xent
        if training and self.config.label_smoothing:
            # Smoothed towards the uniform distribution; the reported loss stays plain
            # cross-entropy so dev losses compare across settings.
            uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
            smoothing = self.config.label_smoothing
            objective = (1.0 - smoothing) * xent + smoothing * uniform
        tokens = tf.reduce_sum(mask)
        xent = tf.reduce_sum(xent * mask) / tokens
        objective = tf.reduce_sum(objective * mask) / tokens
        # Encourage every grid cell to be looked at about once over the caption (Xu et al. §4.2.1).
        coverage = tf.reduce_sum(alphas * mask[..., None], axis=1)  # [B, L]
        lengths = tf.reduce_sum(mask, axis=1, keepdims=True)
        locations = tf.cast(tf.shape(alphas)[-1], tf.float32)
        penalty = tf.reduce_mean(tf.square(1.0 - coverage * locations / lengths)) / locations
        return xent, objective + self.config.attention_penalty * penalty

    # -- batched greedy decoding for dev scoring and the export parity check ----------------------
    @tf.function(reduce_retracing=True)
    def greedy_tokens(self, backbone_features, concepts, max_length: int, banned):
        """Greedy token ids ``[B, max_length]`` for many photos at once (``banned``: ids masked)."""
        encoded = self.encode(backbone_features, concepts)
        keys = self.w1(encoded)
        batch = tf.shape(encoded)[0]
        token = tf.fill([batch], START_ID)
        hidden = tf.zeros([batch, self.config.units])
        mask = tf.reduce_sum(tf.one_hot(banned, self.config.vocab_size), axis=0) * -1e9
        # As the desktop runtime does: no empty caption, so <end> cannot come first.
        first_mask = mask + tf.one_hot(END_ID, self.config.vocab_size) * -1e9
        out = tf.TensorArray(tf.int32, size=max_length)
        for t in tf.range(max_length):
            context, _ = self._attend(encoded, keys, hidden)
            hidden = self._cell(self.embedding(token), context, hidden)
            step_mask = tf.where(tf.equal(t, 0), first_mask, mask)
            token = tf.argmax(self._logits(hidden) + step_mask, axis=-1, output_type=tf.int32)
            out = out.write(t, token)
        return tf.transpose(out.stack())
