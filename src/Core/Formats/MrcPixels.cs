using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Tomalign.Core.Formats;

/// <summary>Bulk conversion between raw MRC pixel bytes and floats, and streaming statistics.</summary>
internal static class MrcPixels
{
    /// <summary>Pixels handled per I/O chunk (16 MB of floats): bounds buffers whatever the section size.</summary>
    internal const int ChunkPixels = 1 << 22;

    private static readonly Lazy<float[]> HalfTable = new(() =>
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    });

    /// <summary>Converts raw pixels to floats. <paramref name="raw"/> is swapped in place when big-endian.</summary>
    public static void ToFloat(Span<byte> raw, Span<float> dst, MrcMode mode, bool unsigned8, bool bigEndian)
    {
        switch (mode)
        {
            case MrcMode.Int8:
                if (unsigned8) { for (int i = 0; i < dst.Length; i++) dst[i] = raw[i]; }
                else
                {
                    var s = MemoryMarshal.Cast<byte, sbyte>(raw);
                    for (int i = 0; i < dst.Length; i++) dst[i] = s[i];
                }
                break;
            case MrcMode.Int16:
            {
                var s = MemoryMarshal.Cast<byte, short>(raw)[..dst.Length];
                if (bigEndian) BinaryPrimitives.ReverseEndianness(s, s);
                for (int i = 0; i < dst.Length; i++) dst[i] = s[i];
                break;
            }
            case MrcMode.UInt16:
            {
                var s = MemoryMarshal.Cast<byte, ushort>(raw)[..dst.Length];
                if (bigEndian) BinaryPrimitives.ReverseEndianness(s, s);
                for (int i = 0; i < dst.Length; i++) dst[i] = s[i];
                break;
            }
            case MrcMode.Float16:
            {
                var u = MemoryMarshal.Cast<byte, ushort>(raw)[..dst.Length];
                if (bigEndian) BinaryPrimitives.ReverseEndianness(u, u);
                var table = HalfTable.Value;   // a 256 KB lookup beats software Half→float conversion severalfold
                for (int i = 0; i < dst.Length; i++) dst[i] = table[u[i]];
                break;
            }
            case MrcMode.Float32:
            {
                var s = MemoryMarshal.Cast<byte, int>(raw)[..dst.Length];
                if (bigEndian) BinaryPrimitives.ReverseEndianness(s, s);
                MemoryMarshal.Cast<int, float>(s).CopyTo(dst);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), $"unsupported MRC mode {(int)mode}");
        }
    }

    /// <summary>
    /// Converts floats to the raw little-endian pixels of <paramref name="mode"/> (integers rounded to nearest, clamped to the
    /// mode's range; NaN written as 0), and gives in <paramref name="stored"/> the values the file then holds.
    /// </summary>
    public static void FromFloat(ReadOnlySpan<float> src, Span<byte> raw, Span<float> stored, MrcMode mode, bool signedBytes)
    {
        static float Clamp(float v, float lo, float hi) => float.IsNaN(v) ? 0 : MathF.Round(Math.Clamp(v, lo, hi), MidpointRounding.AwayFromZero);
        switch (mode)
        {
            case MrcMode.Int8:
                for (int i = 0; i < src.Length; i++)
                {
                    float v = signedBytes ? Clamp(src[i], -128, 127) : Clamp(src[i], 0, 255);
                    raw[i] = signedBytes ? (byte)(sbyte)v : (byte)v;
                    stored[i] = v;
                }
                break;
            case MrcMode.Int16:
                for (int i = 0; i < src.Length; i++)
                {
                    float v = Clamp(src[i], short.MinValue, short.MaxValue);
                    BinaryPrimitives.WriteInt16LittleEndian(raw[(2 * i)..], (short)v);
                    stored[i] = v;
                }
                break;
            case MrcMode.UInt16:
                for (int i = 0; i < src.Length; i++)
                {
                    float v = Clamp(src[i], 0, ushort.MaxValue);
                    BinaryPrimitives.WriteUInt16LittleEndian(raw[(2 * i)..], (ushort)v);
                    stored[i] = v;
                }
                break;
            case MrcMode.Float16:
                for (int i = 0; i < src.Length; i++)
                {
                    var h = (Half)src[i];
                    BinaryPrimitives.WriteHalfLittleEndian(raw[(2 * i)..], h);
                    stored[i] = (float)h;
                }
                break;
            case MrcMode.Float32:
                for (int i = 0; i < src.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(raw[(4 * i)..], src[i]);
                    stored[i] = src[i];
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), $"unsupported MRC mode {(int)mode}");
        }
    }

    /// <summary>Swaps 4-byte words in place when the file is big-endian (Float32 read straight into the destination).</summary>
    public static void FixFloat32InPlace(Span<float> data, bool bigEndian)
    {
        if (bigEndian == !BitConverter.IsLittleEndian) return;
        var s = MemoryMarshal.Cast<float, int>(data);
        BinaryPrimitives.ReverseEndianness(s, s);
    }
}

/// <summary>Mergeable statistics of a block of pixels (Chan et al. pairwise update; NaN and ±Inf counted apart).</summary>
internal struct PixelStats
{
    public long Count;      // finite pixels
    public double Mean;
    public double M2;       // sum of squared deviations from Mean
    public double Min;
    public double Max;
    public long NaN;
    public long Inf;

    public static PixelStats Empty => new() { Min = double.PositiveInfinity, Max = double.NegativeInfinity };

    public static PixelStats Of(ReadOnlySpan<float> v)
    {
        var r = Empty;
        double sum = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        long n = 0, nan = 0, inf = 0;
        for (int i = 0; i < v.Length; i++)
        {
            float x = v[i];
            if (float.IsFinite(x))
            {
                sum += x; n++;
                if (x < min) min = x;
                if (x > max) max = x;
            }
            else if (float.IsNaN(x)) nan++;
            else inf++;
        }
        double mean = n > 0 ? sum / n : 0, m2 = 0;
        if (n > 0)
            for (int i = 0; i < v.Length; i++)
            {
                float x = v[i];
                if (float.IsFinite(x)) { double d = x - mean; m2 += d * d; }
            }
        r.Count = n; r.Mean = mean; r.M2 = m2; r.Min = min; r.Max = max; r.NaN = nan; r.Inf = inf;
        return r;
    }

    /// <summary>Statistics of <paramref name="count"/> zero pixels (an unwritten, zero-filled section).</summary>
    public static PixelStats Zeros(long count) =>
        count == 0 ? Empty : new PixelStats { Count = count, Mean = 0, M2 = 0, Min = 0, Max = 0 };

    public void Add(in PixelStats b)
    {
        NaN += b.NaN; Inf += b.Inf;
        if (b.Count == 0) return;
        if (Count == 0) { Count = b.Count; Mean = b.Mean; M2 = b.M2; Min = b.Min; Max = b.Max; return; }
        long n = Count + b.Count;
        double delta = b.Mean - Mean;
        Mean += delta * b.Count / n;
        M2 += b.M2 + delta * delta * ((double)Count * b.Count / n);
        Count = n;
        if (b.Min < Min) Min = b.Min;
        if (b.Max > Max) Max = b.Max;
    }

    /// <summary>Population standard deviation (what MRC2014 RMS and numpy std mean).</summary>
    public readonly double Std => Count > 0 ? Math.Sqrt(M2 / Count) : 0;

    public readonly MrcStatistics ToStatistics() => Count == 0
        ? new MrcStatistics(double.NaN, double.NaN, double.NaN, double.NaN, 0, NaN, Inf)
        : new MrcStatistics(Min, Max, Mean, Std, Count, NaN, Inf);
}

/// <summary>Statistics of pixels added block by block (the same as <see cref="MrcReader.ComputeStatistics"/> for the same pixels).</summary>
public struct PixelStatsAccumulator
{
    private PixelStats _stats;
    public static PixelStatsAccumulator Create() => new() { _stats = PixelStats.Empty };
    public void Add(ReadOnlySpan<float> pixels) => _stats.Add(PixelStats.Of(pixels));
    public readonly MrcStatistics Result => _stats.ToStatistics();
}
