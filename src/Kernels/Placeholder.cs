namespace Tomalign.Kernels; internal static class Placeholder { }
