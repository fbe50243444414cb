using System.Buffers.Binary;
using System.Text;
using Tomalign.Core;
using Tomalign.Core.Formats;
using Tomalign.Core.Solve;
using Tomalign.Tests.Solve;
using Xunit;

namespace Tomalign.Tests.Formats;

public class ImodModelTests
{
    private static ImodModel Sample()
    {
        var obs = new List<LandmarkObservation>();
        for (int j = 0; j < 5; j++)
            for (int v = 0; v < 7; v++)
                if ((j + v) % 4 != 0) obs.Add(new LandmarkObservation(j, v, 100.25f + 10 * j + 0.5f * v, 200.5f - 3 * j + v));
        return ImodModel.FromObservations(obs, 512, 480, 7, pixelSize: 20.2f);
    }

    [Fact]
    public void WrittenModelReadsBackIdentically()
    {
        var m = Sample();
        byte[] bytes = m.ToBytes();
        var back = ImodModel.Read(bytes);
        Assert.Equal(bytes, back.ToBytes());
        Assert.Equal((512, 480, 7), (back.XMax, back.YMax, back.ZMax));
        Assert.Equal(20.2f, back.PixelSize);
        Assert.Equal(m.ToObservations(), back.ToObservations());
        Assert.Equal(m.ToPointText(), back.ToPointText());
    }

    [Fact]
    public void LayoutFollowsBinspec()
    {
        var m = Sample();
        byte[] b = m.ToBytes();
        int points = m.Objects[0].Contours.Sum(c => c.Points.Count), contours = m.Objects[0].Contours.Count;
        // "IMOD" "V1.2", 232-byte header, "OBJT" + 176 bytes, per contour "CONT" + 16 bytes + 12 per point, "IEOF".
        Assert.Equal(8 + 232 + 4 + 176 + contours * 20 + points * 12 + 4, b.Length);
        Assert.Equal("IMODV1.2", Encoding.ASCII.GetString(b, 0, 8));
        Assert.Equal(512, BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8 + 128)));     // xmax
        Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(8 + 140)));       // objsize
        Assert.Equal(20.2f, BinaryPrimitives.ReadSingleBigEndian(b.AsSpan(8 + 208)));  // pixsize
        Assert.Equal("OBJT", Encoding.ASCII.GetString(b, 240, 4));
        Assert.Equal(contours, BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(244 + 128))); // contsize
        Assert.Equal("CONT", Encoding.ASCII.GetString(b, 420, 4));
        int psize = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(424));
        Assert.Equal(m.Objects[0].Contours[0].Points.Count, psize);
        var p0 = m.Objects[0].Contours[0].Points[0];
        Assert.Equal(p0.X, BinaryPrimitives.ReadSingleBigEndian(b.AsSpan(440)));
        Assert.Equal(p0.Z, BinaryPrimitives.ReadSingleBigEndian(b.AsSpan(448)));
        Assert.Equal("IEOF", Encoding.ASCII.GetString(b, b.Length - 4, 4));
    }

    [Fact]
    public void ReaderAcceptsSeveralObjectsEmptyContoursAndExtraChunks()
    {
        var m = Sample();
        var second = new ImodObject { Name = "second" };
        second.Contours.Add(new ImodContour());
        var c = new ImodContour();
        c.Points.Add((1, 2, 3)); c.Points.Add((4, 5, 6)); c.Points.Add((7, 8, 9));
        second.Contours.Add(c);
        m.Objects.Add(second);
        byte[] plain = m.ToBytes();

        // Insert, before IEOF: a MESH chunk (no size field: vsize, lsize, flag, time, surf, data) and
        // two sized chunks ("MINX" and a made-up "ZZZZ"), as IMOD and later versions write.
        var extra = new MemoryStream();
        void Id(string s) => extra.Write(Encoding.ASCII.GetBytes(s));
        void I(int v) { var t = new byte[4]; BinaryPrimitives.WriteInt32BigEndian(t, v); extra.Write(t); }
        Id("MESH"); I(2); I(3); I(0); extra.Write(new byte[4]); extra.Write(new byte[2 * 12 + 3 * 4]);
        Id("MINX"); I(72); extra.Write(new byte[72]);
        Id("ZZZZ"); I(5); extra.Write(new byte[] { 1, 2, 3, 4, 5 });
        var bytes = plain[..^4].Concat(extra.ToArray()).Concat(plain[^4..]).ToArray();

        var back = ImodModel.Read(bytes);
        Assert.Equal(2, back.Objects.Count);
        Assert.Equal(["MESH", "MINX", "ZZZZ"], back.SkippedChunks);
        Assert.Empty(back.Objects[1].Contours[0].Points);
        Assert.Equal(3, back.Objects[1].Contours[1].Points.Count);
        var obs = back.ToObservations();
        int firstOfSecond = m.Objects[0].Contours.Count + 1; // the empty contour keeps its number
        Assert.Equal(new LandmarkObservation(firstOfSecond, 3, 1, 2), obs.First(o => o.Landmark == firstOfSecond));
        Assert.Equal((2, 2), back.LandmarkKey(firstOfSecond));
        Assert.Equal(plain, back.ToBytes());
    }

    [Fact]
    public void TruncatedOrForeignFilesGiveAClearError()
    {
        byte[] b = Sample().ToBytes();
        // Cut inside a contour, and cut cleanly between chunks (no IEOF).
        var e = Assert.Throws<TomalignInputException>(() => ImodModel.Read(b[..510], "x.fid"));
        Assert.Contains("x.fid", e.Message);
        Assert.Throws<TomalignInputException>(() => ImodModel.Read(b[..500], "x.fid"));
        Assert.Throws<TomalignInputException>(() => ImodModel.Read(Encoding.ASCII.GetBytes("MRC file, not a model"), "y.mod"));
    }

    [Fact]
    public void PointTextRoundTripsAndSolvesLikeTheBinaryModel()
    {
        var bb = BBData.Load("BBa");
        var model = ImodModel.FromObservations(bb.Observations, 512, 512, 61);
        string dir = Directory.CreateTempSubdirectory("tomalign-mod-").FullName;
        try
        {
            string fid = Path.Combine(dir, "BBa.fid"), txt = Path.Combine(dir, "BBa.txt");
            model.Write(fid);
            File.WriteAllLines(txt, model.ToPointText());
            var fromFid = ImodModel.Read(fid).ToObservations();
            var fromTxt = ImodModel.ReadPointText(txt, 512, 512).ToObservations();
            Assert.Equal(1403, fromFid.Count);
            Assert.Equal(fromFid.Count, fromTxt.Count);
            for (int k = 0; k < fromFid.Count; k++)
            {
                Assert.Equal((fromFid[k].Landmark, fromFid[k].View), (fromTxt[k].Landmark, fromTxt[k].View));
                Assert.Equal(fromFid[k].X, fromTxt[k].X, 3);
                Assert.Equal(fromFid[k].Y, fromTxt[k].Y, 3);
            }
            // The model carries the observations as floats: the same as the .resid values to float precision.
            var orig = bb.Observations.OrderBy(o => o.Landmark).ThenBy(o => o.View).ToList();
            for (int k = 0; k < orig.Count; k++)
                Assert.Equal(orig[k].X, fromFid[k].X, 4);
        }
        finally { Directory.Delete(dir, true); }
    }
}
