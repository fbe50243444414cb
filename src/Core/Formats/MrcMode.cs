namespace Tomalign.Core.Formats;

/// <summary>MRC data modes Tomalign reads and writes.</summary>
public enum MrcMode
{
    /// <summary>8-bit integers: signed per MRC2014, unsigned when IMOD's flag says so.</summary>
    Int8 = 0,
    Int16 = 1,
    Float32 = 2,
    UInt16 = 6,
    /// <summary>IEEE 754 half precision.</summary>
    Float16 = 12,
}

public static class MrcModeExtensions
{
    public static bool IsSupported(this MrcMode mode) =>
        mode is MrcMode.Int8 or MrcMode.Int16 or MrcMode.Float32 or MrcMode.UInt16 or MrcMode.Float16;

    public static bool IsWritable(this MrcMode mode) => mode.IsSupported();

    public static int BytesPerPixel(this MrcMode mode) => mode switch
    {
        MrcMode.Int8 => 1,
        MrcMode.Int16 or MrcMode.UInt16 or MrcMode.Float16 => 2,
        MrcMode.Float32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), $"unsupported MRC mode {(int)mode}"),
    };
}

/// <summary>Statistics of all pixels of a file; Mean and Rms (standard deviation) are over finite pixels.</summary>
public sealed record MrcStatistics(double Min, double Max, double Mean, double Rms, long Count, long NaNCount, long InfCount);
