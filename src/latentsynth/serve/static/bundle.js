// The served page: model data comes from the API. `latentsynth synth export MODEL --web DIR` replaces this file
// with the model itself (manifest, weights, plane, heatmaps), so that the same page plays from file://.
window.LATENTSYNTH_BUNDLE = null;
