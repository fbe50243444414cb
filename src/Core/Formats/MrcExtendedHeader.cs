using System.Buffers.Binary;

namespace Tomalign.Core.Formats;

/// <summary>What an extended header says of one section (null where it says nothing).</summary>
public sealed record SectionMetadata
{
    /// <summary>Tilt angle (alpha tilt), degrees.</summary>
    public double? TiltAngle { get; init; }
    /// <summary>Exposure dose of this section, e⁻/Å².</summary>
    public double? Dose { get; init; }
    /// <summary>Pixel size, Å.</summary>
    public double? PixelSizeAngstrom { get; init; }
    /// <summary>Tilt-axis angle as the microscope software records it, degrees.</summary>
    public double? TiltAxisAngle { get; init; }
    /// <summary>Accelerating voltage, kV.</summary>
    public double? VoltageKv { get; init; }
    /// <summary>Defocus, µm (the writer's sign convention).</summary>
    public double? DefocusMicrons { get; init; }
}

/// <summary>
/// The per-section metadata of an MRC extended header. Layouts read:
/// <list type="bullet">
/// <item><b>FEI1 / FEI2</b> (EPU, Tomography, Velox; Thermo Fisher's "MRC2014 extended header" spec): one packed little-endian
/// record per section whose first int32 is the record size; Bitmask 1 (uint32 at byte 8) says which fields are valid:
/// bit 5 HT (V, float64 at 84), bit 6 dose (e⁻/m², float64 at 92), bit 7 alpha tilt (°, 100), bit 12 tilt axis (°, 140),
/// bit 14 pixel size X (m, 156), bit 22 defocus (m, 220).</item>
/// <item><b>SERI</b> (SerialEM, IMOD; also without EXTTYP in older files): NINT = bytes per section, NREAL = flags of the
/// 2-byte-packed items present, in this order: 1 tilt angle × 100 (2 bytes), 2 montage piece (6), 4 stage X, Y × 25 (4),
/// 8 magnification / 100 (2), 16 intensity × 25000 (2), 32 exposure dose (4: two shorts, SerialEM's float packing),
/// then 64, 256, 1024 (2 bytes each) and 128, 512 (4 bytes). The flags are SerialEM's only when their bytes add up to NINT.</item>
/// <item><b>AGAR</b> (Agard/Deltavision; also any other NINT/NREAL pair): NINT 4-byte integers then NREAL 4-byte reals per section,
/// the first real the tilt angle.</item>
/// <item><b>Old FEI</b> (no EXTTYP, 1024 records of 128 bytes = 32 float32): alpha tilt at float 0, defocus (m) at 7,
/// tilt axis at 10, pixel size (m) at 11, HT (V) at 13.</item>
/// </list>
/// </summary>
public static class MrcExtendedHeader
{
    /// <summary>Bytes of each SerialEM item flag (bit 0 first), as IMOD's b3dHeaderItemBytes lists them.</summary>
    private static readonly int[] SerialEmItemBytes = [2, 6, 4, 2, 2, 4, 2, 4, 2, 4, 2];

    /// <summary>Which layout the header uses: "FEI1", "FEI2", "SERI", "AGAR", "FEI-old", or null when none is recognised.</summary>
    public static string? Layout(MrcHeader h)
    {
        if (h.ExtendedHeaderBytes <= 0) return null;
        string t = h.ExtendedType.ToUpperInvariant();
        if (t is "FEI1" or "FEI2") return t;
        if (t == "SERI") return SerialEmFlagsFit(h.NInt, h.NReal) ? "SERI" : null;
        if (t == "AGAR") return h.NInt >= 0 && h.NReal > 0 ? "AGAR" : null;
        if (t.Length > 0) return null;   // CCP4, MRCO, … : nothing per section we use
        if (h.NInt > 0 && SerialEmFlagsFit(h.NInt, h.NReal)) return "SERI";
        if (h.NReal > 0 && h.NInt >= 0 && (h.NInt + h.NReal) * 4 * (long)h.Nz <= h.ExtendedHeaderBytes) return "AGAR";
        if (h.ExtendedHeaderBytes == 1024 * 128 && h.Nz <= 1024) return "FEI-old";
        return null;
    }

    /// <summary>True when the SerialEM flags' bytes add up to the bytes per section (IMOD's test for packed shorts).</summary>
    public static bool SerialEmFlagsFit(int nint, int flags)
    {
        if (nint <= 0 || flags <= 0 || flags >= 1 << SerialEmItemBytes.Length) return false;
        int sum = 0;
        for (int bit = 0; bit < SerialEmItemBytes.Length; bit++)
            if ((flags & (1 << bit)) != 0) sum += SerialEmItemBytes[bit];
        return sum == nint;
    }

    /// <summary>
    /// The metadata of each section (one entry per section of the file, in file order), or null when the header has no
    /// per-section metadata Tomalign reads. <paramref name="ext"/> is the raw extended header in the file's byte order.
    /// </summary>
    public static SectionMetadata[]? Read(MrcHeader h, ReadOnlySpan<byte> ext)
    {
        string? layout = Layout(h);
        if (layout is null || ext.Length == 0) return null;
        return layout switch
        {
            "FEI1" or "FEI2" => ReadFei(h, ext),
            "SERI" => ReadSerialEm(h, ext),
            "AGAR" => ReadAgard(h, ext),
            "FEI-old" => ReadOldFei(h, ext),
            _ => null,
        };
    }

    /// <summary>Reads the metadata of an open file's extended header (null: none).</summary>
    public static SectionMetadata[]? Read(MrcReader reader) =>
        reader.Header.ExtendedHeaderBytes > 0 ? Read(reader.Header, reader.ReadExtendedHeader()) : null;

    /// <summary>The tilt angle of every section, or null unless the extended header gives one for every section.</summary>
    public static double[]? TiltAngles(SectionMetadata[]? sections)
    {
        if (sections is null || sections.Length == 0 || sections.Any(s => s.TiltAngle is null)) return null;
        var a = sections.Select(s => s.TiltAngle!.Value).ToArray();
        // A header whose angles are all zero carries no tilts (e.g. a record written before the stage was read).
        return a.All(v => v == 0) && a.Length > 1 ? null : a;
    }

    private static SectionMetadata[]? ReadFei(MrcHeader h, ReadOnlySpan<byte> ext)
    {
        // The FEI records are little-endian whatever the main header's byte order.
        if (ext.Length < 4) return null;
        int size = BinaryPrimitives.ReadInt32LittleEndian(ext);
        if (size < 164 || size > ext.Length) return null;
        int n = Math.Min(h.Nz, ext.Length / size);
        if (n < h.Nz) return null;
        var result = new SectionMetadata[n];
        for (int z = 0; z < n; z++)
        {
            byte[] r = ext.Slice(z * size, size).ToArray();
            uint mask = BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(8));
            double? D(int off, int bit, double scale = 1)
            {
                if (off + 8 > r.Length || (mask != 0 && (mask & (1u << bit)) == 0)) return null;   // a zero mask: writers that set none
                double v = BinaryPrimitives.ReadDoubleLittleEndian(r.AsSpan(off));
                return double.IsFinite(v) ? v * scale : null;
            }
            double? pixel = D(156, 14, 1e10);
            result[z] = new SectionMetadata
            {
                VoltageKv = D(84, 5, 1e-3),
                Dose = D(92, 6, 1e-20),             // e⁻/m² → e⁻/Å²
                TiltAngle = D(100, 7),
                TiltAxisAngle = D(140, 12),
                PixelSizeAngstrom = pixel is > 0 ? pixel : null,
                DefocusMicrons = D(220, 22, 1e6),
            };
        }
        return result;
    }

    private static SectionMetadata[]? ReadSerialEm(MrcHeader h, ReadOnlySpan<byte> ext)
    {
        int nbytes = h.NInt, flags = h.NReal;
        if ((long)nbytes * h.Nz > ext.Length) return null;
        int tiltAt = -1, doseAt = -1, at = 0;
        for (int bit = 0; bit < SerialEmItemBytes.Length; bit++)
        {
            if ((flags & (1 << bit)) == 0) continue;
            if (bit == 0) tiltAt = at;
            if (bit == 5) doseAt = at;
            at += SerialEmItemBytes[bit];
        }
        short S(ReadOnlySpan<byte> b, int off) => h.BigEndian ? BinaryPrimitives.ReadInt16BigEndian(b[off..]) : BinaryPrimitives.ReadInt16LittleEndian(b[off..]);
        var result = new SectionMetadata[h.Nz];
        for (int z = 0; z < h.Nz; z++)
        {
            var r = ext.Slice(z * nbytes, nbytes);
            result[z] = new SectionMetadata
            {
                TiltAngle = tiltAt >= 0 ? S(r, tiltAt) / 100.0 : null,
                Dose = doseAt >= 0 ? ShortsToFloat(S(r, doseAt), S(r, doseAt + 2)) : null,
            };
        }
        return result;
    }

    /// <summary>SerialEM's packing of a float into two shorts (IMOD's SEMshortsToFloat): value = ±(|low|·256 + |high| mod 256) · 2^(±|high|/256).</summary>
    public static double ShortsToFloat(short low, short high)
    {
        int lo = low, hi = high;
        int valueSign = 1, exponentSign = 1;
        if (lo < 0) { lo = -lo; valueSign = -1; }
        if (hi < 0) { hi = -hi; exponentSign = -1; }
        int value = lo * 256 + hi % 256;
        int exponent = hi / 256;
        return valueSign * value * Math.Pow(2, exponent * exponentSign);
    }

    /// <summary>The inverse of <see cref="ShortsToFloat"/> (SerialEM's FloatToShorts), to write test headers.</summary>
    public static (short Low, short High) FloatToShorts(double value)
    {
        int valueSign = value < 0 ? -1 : 1;
        double a = Math.Abs(value);
        if (a == 0) return (0, 0);
        // Find the exponent that puts the mantissa in [2^22, 2^23) (low·256 + the high's low byte holds 23 bits).
        int exponent = (int)Math.Floor(Math.Log2(a)) - 22;
        int mantissa = (int)Math.Round(a / Math.Pow(2, exponent));
        if (mantissa >= 1 << 23) { mantissa >>= 1; exponent++; }
        int expSign = exponent < 0 ? -1 : 1;
        int e = Math.Abs(exponent);
        short low = (short)(valueSign * (mantissa / 256));
        short high = (short)(expSign * (e * 256 + mantissa % 256));
        return (low, high);
    }

    private static SectionMetadata[]? ReadAgard(MrcHeader h, ReadOnlySpan<byte> ext)
    {
        int perSection = (h.NInt + h.NReal) * 4;
        if (perSection <= 0 || (long)perSection * h.Nz > ext.Length) return null;
        var result = new SectionMetadata[h.Nz];
        for (int z = 0; z < h.Nz; z++)
        {
            int off = z * perSection + 4 * h.NInt;
            float tilt = h.BigEndian ? BinaryPrimitives.ReadSingleBigEndian(ext[off..]) : BinaryPrimitives.ReadSingleLittleEndian(ext[off..]);
            result[z] = new SectionMetadata { TiltAngle = float.IsFinite(tilt) ? tilt : null };
        }
        return result;
    }

    private static SectionMetadata[]? ReadOldFei(MrcHeader h, ReadOnlySpan<byte> ext)
    {
        var result = new SectionMetadata[h.Nz];
        for (int z = 0; z < h.Nz; z++)
        {
            byte[] r = ext.Slice(z * 128, 128).ToArray();
            float F(int i) => h.BigEndian ? BinaryPrimitives.ReadSingleBigEndian(r.AsSpan(4 * i)) : BinaryPrimitives.ReadSingleLittleEndian(r.AsSpan(4 * i));
            double? Finite(double v) => double.IsFinite(v) ? v : null;
            double pixel = F(11) * 1e10, ht = F(13);
            result[z] = new SectionMetadata
            {
                TiltAngle = Finite(F(0)),
                DefocusMicrons = Finite(F(7) * 1e6),
                TiltAxisAngle = Finite(F(10)),
                PixelSizeAngstrom = pixel > 0 && double.IsFinite(pixel) ? pixel : null,
                VoltageKv = ht > 0 && double.IsFinite(ht) ? ht / 1000 : null,
            };
        }
        return result;
    }
}
