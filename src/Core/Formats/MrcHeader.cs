using System.Buffers.Binary;
using System.Text;

namespace Tomalign.Core.Formats;

/// <summary>
/// The 1024-byte MRC2014 main header, decoded into native values (byte order already resolved).
/// Cell lengths are in Å; pixel sizes are cell / sampling (1 when the cell or sampling is 0).
/// </summary>
public sealed class MrcHeader
{
    public const int Size = 1024;
    public const int ImodStampValue = 1146047817;
    public const int MaxLabels = 10;
    public const int LabelLength = 80;

    // Byte offsets of the fields (MRC2014 word n is at 4(n-1)).
    internal const int OffNx = 0, OffMode = 12, OffNxStart = 16, OffMx = 28, OffCella = 40, OffCellb = 52,
        OffMapc = 64, OffDmin = 76, OffIspg = 88, OffNsymbt = 92, OffExttyp = 104, OffNversion = 108,
        OffNint = 128, OffNreal = 130, OffImodStamp = 152, OffImodFlags = 156, OffOrigin = 196, OffMap = 208, OffMachst = 212,
        OffRms = 216, OffNlabl = 220, OffLabels = 224;

    public int Nx { get; init; }
    public int Ny { get; init; }
    public int Nz { get; init; }
    public MrcMode Mode { get; init; }
    public int NxStart { get; init; }
    public int NyStart { get; init; }
    public int NzStart { get; init; }
    public int Mx { get; init; }
    public int My { get; init; }
    public int Mz { get; init; }
    public float CellX { get; init; }
    public float CellY { get; init; }
    public float CellZ { get; init; }
    public float CellAlpha { get; init; } = 90;
    public float CellBeta { get; init; } = 90;
    public float CellGamma { get; init; } = 90;
    public int MapC { get; init; } = 1;
    public int MapR { get; init; } = 2;
    public int MapS { get; init; } = 3;
    public float DMin { get; init; }
    public float DMax { get; init; }
    public float DMean { get; init; }
    public int SpaceGroup { get; init; }
    /// <summary>NSYMBT: bytes of extended header after the main header.</summary>
    public int ExtendedHeaderBytes { get; init; }
    /// <summary>EXTTYP, 4 ASCII characters (trailing NULs removed), e.g. "FEI1", "SERI", "".</summary>
    public string ExtendedType { get; init; } = "";
    public int NVersion { get; init; }
    /// <summary>NINT (bytes 129–130): SerialEM: bytes of extended header per section; Agard: 4-byte integers per section.</summary>
    public short NInt { get; init; }
    /// <summary>NREAL (bytes 131–132): SerialEM: flags of the items per section; Agard: 4-byte reals per section.</summary>
    public short NReal { get; init; }
    public int ImodStamp { get; init; }
    public int ImodFlags { get; init; }
    public float OriginX { get; init; }
    public float OriginY { get; init; }
    public float OriginZ { get; init; }
    /// <summary>True when the 'MAP ' identifier is present at byte 208.</summary>
    public bool HasMapId { get; init; }
    public float Rms { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>The data (and header) are big-endian in the file.</summary>
    public bool BigEndian { get; init; }

    /// <summary>The IMOD stamp (1146047817) is present: IMOD wrote the header and its flags mean what IMOD says.</summary>
    public bool HasImodStamp => ImodStamp == ImodStampValue;

    /// <summary>
    /// Mode 0 holds unsigned bytes. IMOD's rule: bytes are unsigned unless the IMOD stamp is present with flag bit 0
    /// (value 1, "bytes are stored signed") set. A file without the stamp whose header statistics are determinate and
    /// negative (minimum below 0, as mrcfile, EMAN2 and RELION write signed bytes) is read signed: its own header says so.
    /// Otherwise unsigned, as IMOD reads it (most mode-0 tilt series were written by IMOD or SerialEM, unsigned). False for other modes.
    /// </summary>
    public bool Int8Unsigned
    {
        get
        {
            if (Mode != MrcMode.Int8) return false;
            if (HasImodStamp) return (ImodFlags & 1) == 0;
            bool determinate = float.IsFinite(DMin) && float.IsFinite(DMax) && DMax >= DMin && !(DMin == 0 && DMax == 0);
            return !(determinate && DMin < 0);
        }
    }

    /// <summary>The header's minimum, maximum and mean are determinate (MRC2014: DMAX &lt; DMIN and DMEAN below both mean "not computed").</summary>
    public bool HasStatistics => float.IsFinite(DMin) && float.IsFinite(DMax) && float.IsFinite(DMean) && DMax >= DMin
        && !(DMin == 0 && DMax == 0 && DMean == 0);

    /// <summary>
    /// A warning when the header's minimum, maximum and mean contradict the statistics of the data as read (null when
    /// they agree or the header has none). For mode 0 it says how the bytes were read and what the other reading gives.
    /// </summary>
    public string? StatisticsContradiction(MrcStatistics read, string path)
    {
        if (!HasStatistics || read.Count == 0) return null;
        double range = Math.Max(Math.Abs(DMax - DMin), Math.Max(read.Max - read.Min, 1e-6));
        double tol = 0.02 * range + (Mode == MrcMode.Int8 || Mode == MrcMode.Int16 || Mode == MrcMode.UInt16 ? 1.0 : 0.0);
        bool agree = Math.Abs(read.Min - DMin) <= tol && Math.Abs(read.Max - DMax) <= tol && Math.Abs(read.Mean - DMean) <= tol;
        if (agree) return null;
        string F(double v) => v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture);
        string how = Mode == MrcMode.Int8
            ? $" read as {(Int8Unsigned ? "unsigned" : "signed")} bytes ({(HasImodStamp ? $"IMOD stamp, flags {ImodFlags}" : "no IMOD stamp")})"
            : $" (mode {(int)Mode})";
        string fix = Mode == MrcMode.Int8
            ? (Int8Unsigned
                ? "the bytes were read unsigned by IMOD's rule; if they are signed, write the stack again with the IMOD stamp and its signed flag (bit 0 of the IMOD flags), or as mode 2"
                : "the bytes were read signed; if they are unsigned, write the stack again with the IMOD stamp and flags 0, or as mode 2")
            : "the header's statistics are stale or the data were altered after writing; check the images";
        return $"{path}: the header says minimum {F(DMin)}, maximum {F(DMax)}, mean {F(DMean)}, but the data{how} have minimum {F(read.Min)}, " +
               $"maximum {F(read.Max)}, mean {F(read.Mean)}; {fix}";
    }

    public double PixelSizeX => PixelSize(CellX, Mx);
    public double PixelSizeY => PixelSize(CellY, My);
    public double PixelSizeZ => PixelSize(CellZ, Mz);

    public long DataOffset => Size + (long)ExtendedHeaderBytes;
    public int BytesPerPixel => Mode.BytesPerPixel();
    public long SectionPixels => (long)Nx * Ny;
    public long SectionBytes => SectionPixels * BytesPerPixel;
    public long DataBytes => SectionBytes * Nz;

    private static double PixelSize(float cell, int m) => cell == 0 || m == 0 ? 1.0 : (double)cell / m;

    private static bool Plausible(ReadOnlySpan<byte> b, bool big)
    {
        int nx = ReadInt(b, OffNx, big), ny = ReadInt(b, OffNx + 4, big), nz = ReadInt(b, OffNx + 8, big);
        int mode = ReadInt(b, OffMode, big);
        return nx > 0 && ny > 0 && nz > 0 && ((uint)mode <= 16 || mode == 101)
            && nx < (1 << 26) && ny < (1 << 26) && nz < (1 << 28);
    }

    /// <summary>Decodes a 1024-byte header. Does not validate sizes (see <see cref="MrcReader.Open"/>);
    /// an unknown mode is kept as its number.</summary>
    public static MrcHeader Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length < Size) throw new ArgumentException($"an MRC header needs {Size} bytes, got {b.Length}", nameof(b));
        bool? declared = b[OffMachst] switch { 0x44 => false, 0x11 => true, _ => null };
        bool big;
        if (declared is bool d && Plausible(b, d)) big = d;
        else if (Plausible(b, false)) big = false;
        else if (Plausible(b, true)) big = true;
        else big = declared ?? false;

        int nlabl = Math.Clamp(ReadInt(b, OffNlabl, big), 0, MaxLabels);
        var labels = new List<string>(nlabl);
        for (int i = 0; i < nlabl; i++)
            labels.Add(Encoding.Latin1.GetString(b.Slice(OffLabels + i * LabelLength, LabelLength)).TrimEnd('\0', ' '));

        return new MrcHeader
        {
            BigEndian = big,
            Nx = ReadInt(b, 0, big), Ny = ReadInt(b, 4, big), Nz = ReadInt(b, 8, big),
            Mode = (MrcMode)ReadInt(b, OffMode, big),
            NxStart = ReadInt(b, OffNxStart, big), NyStart = ReadInt(b, OffNxStart + 4, big), NzStart = ReadInt(b, OffNxStart + 8, big),
            Mx = ReadInt(b, OffMx, big), My = ReadInt(b, OffMx + 4, big), Mz = ReadInt(b, OffMx + 8, big),
            CellX = ReadFloat(b, OffCella, big), CellY = ReadFloat(b, OffCella + 4, big), CellZ = ReadFloat(b, OffCella + 8, big),
            CellAlpha = ReadFloat(b, OffCellb, big), CellBeta = ReadFloat(b, OffCellb + 4, big), CellGamma = ReadFloat(b, OffCellb + 8, big),
            MapC = ReadInt(b, OffMapc, big), MapR = ReadInt(b, OffMapc + 4, big), MapS = ReadInt(b, OffMapc + 8, big),
            DMin = ReadFloat(b, OffDmin, big), DMax = ReadFloat(b, OffDmin + 4, big), DMean = ReadFloat(b, OffDmin + 8, big),
            SpaceGroup = ReadInt(b, OffIspg, big),
            ExtendedHeaderBytes = ReadInt(b, OffNsymbt, big),
            ExtendedType = Encoding.ASCII.GetString(b.Slice(OffExttyp, 4)).TrimEnd('\0', ' '),
            NVersion = ReadInt(b, OffNversion, big),
            NInt = ReadShort(b, OffNint, big), NReal = ReadShort(b, OffNreal, big),
            ImodStamp = ReadInt(b, OffImodStamp, big),
            ImodFlags = ReadInt(b, OffImodFlags, big),
            OriginX = ReadFloat(b, OffOrigin, big), OriginY = ReadFloat(b, OffOrigin + 4, big), OriginZ = ReadFloat(b, OffOrigin + 8, big),
            HasMapId = b.Slice(OffMap, 4).SequenceEqual("MAP "u8),
            Rms = ReadFloat(b, OffRms, big),
            Labels = labels,
        };
    }

    /// <summary>Encodes this header little-endian (MACHST 0x44 0x44), as Tomalign writes it.
    /// Byte order and unknown EXTRA bytes are not preserved: the result is a clean MRC2014 header.</summary>
    public byte[] ToBytes()
    {
        var b = new byte[Size];
        void I(int off, int v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(off), v);
        void F(int off, float v) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(off), v);
        I(0, Nx); I(4, Ny); I(8, Nz); I(OffMode, (int)Mode);
        I(OffNxStart, NxStart); I(OffNxStart + 4, NyStart); I(OffNxStart + 8, NzStart);
        I(OffMx, Mx); I(OffMx + 4, My); I(OffMx + 8, Mz);
        F(OffCella, CellX); F(OffCella + 4, CellY); F(OffCella + 8, CellZ);
        F(OffCellb, CellAlpha); F(OffCellb + 4, CellBeta); F(OffCellb + 8, CellGamma);
        I(OffMapc, MapC); I(OffMapc + 4, MapR); I(OffMapc + 8, MapS);
        F(OffDmin, DMin); F(OffDmin + 4, DMax); F(OffDmin + 8, DMean);
        I(OffIspg, SpaceGroup); I(OffNsymbt, ExtendedHeaderBytes);
        var ext = Encoding.ASCII.GetBytes(ExtendedType ?? "");
        ext.AsSpan(0, Math.Min(4, ext.Length)).CopyTo(b.AsSpan(OffExttyp));
        I(OffNversion, NVersion);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(OffNint), NInt);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(OffNreal), NReal);
        I(OffImodStamp, ImodStamp); I(OffImodFlags, ImodFlags);
        F(OffOrigin, OriginX); F(OffOrigin + 4, OriginY); F(OffOrigin + 8, OriginZ);
        "MAP "u8.CopyTo(b.AsSpan(OffMap));
        b[OffMachst] = 0x44; b[OffMachst + 1] = 0x44;
        F(OffRms, Rms);
        int n = 0;
        foreach (var label in Labels)
        {
            if (n == MaxLabels) break;
            if (string.IsNullOrWhiteSpace(label)) continue;   // no blank labels between text (MRC2014)
            var span = b.AsSpan(OffLabels + n * LabelLength, LabelLength);
            span.Fill((byte)' ');
            var bytes = Encoding.Latin1.GetBytes(label.Length > LabelLength ? label[..LabelLength] : label);
            bytes.CopyTo(span);
            n++;
        }
        I(OffNlabl, n);
        return b;
    }

    internal static int ReadInt(ReadOnlySpan<byte> b, int off, bool big) =>
        big ? BinaryPrimitives.ReadInt32BigEndian(b[off..]) : BinaryPrimitives.ReadInt32LittleEndian(b[off..]);

    internal static short ReadShort(ReadOnlySpan<byte> b, int off, bool big) =>
        big ? BinaryPrimitives.ReadInt16BigEndian(b[off..]) : BinaryPrimitives.ReadInt16LittleEndian(b[off..]);

    internal static float ReadFloat(ReadOnlySpan<byte> b, int off, bool big) =>
        big ? BinaryPrimitives.ReadSingleBigEndian(b[off..]) : BinaryPrimitives.ReadSingleLittleEndian(b[off..]);

    public override string ToString() =>
        $"{Nx}×{Ny}×{Nz} mode {(int)Mode}{(Mode == MrcMode.Int8 && Int8Unsigned ? " (unsigned)" : "")}, pixel {PixelSizeX:G5} Å, " +
        $"{(BigEndian ? "big" : "little")}-endian, ext {ExtendedHeaderBytes} bytes '{ExtendedType}'";
}
