using ILGPU;

namespace Tomalign.Kernels;

/// <summary>
/// The WBP row filter on the device: lines of <c>width</c> padded to <c>pad</c> with their edge values, the
/// half spectrum weighted, the filtered lines cropped back. The managed twin is Tomalign.Cpu.CpuBackprojector.FilterRows.
/// </summary>
internal static class RowFilterKernels
{
    /// <summary>
    /// One thread per padded sample (line l, x): the line's own value, then the right half of the extra with its
    /// last value and the rest with its first (what wraps round to the line's left edge). Lines from <c>first</c>.
    /// </summary>
    public static void PadRows(Index1D index, ArrayView<float> lines, ArrayView<float> padded, int first, int width, int pad)
    {
        int l = index / pad, x = index - l * pad;
        long src = (long)(first + l) * width;
        int right = (pad - width) / 2;
        padded[index] = x < width ? lines[src + x] : x < width + right ? lines[src + width - 1] : lines[src];
    }

    /// <summary>One thread per complex coefficient (line l, k): both parts times filter[k].</summary>
    public static void WeightSpectrum(Index1D index, ArrayView<float> spectrum, ArrayView<float> filter, int half)
    {
        int k = index % half;
        float f = filter[k];
        spectrum[2 * index] *= f;
        spectrum[2 * index + 1] *= f;
    }

    /// <summary>One thread per output sample (line l, x): the first <c>width</c> samples of the filtered padded line.</summary>
    public static void CropRows(Index1D index, ArrayView<float> padded, ArrayView<float> lines, int first, int width, int pad)
    {
        int l = index / width, x = index - l * width;
        lines[(long)(first + l) * width + x] = padded[(long)l * pad + x];
    }
}
