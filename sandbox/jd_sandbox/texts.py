"""Word pools the synthetic catalog draws from: categories, brands, comment texts, names, addresses.

Only data lives here. The texts imitate real JD reviews (the real sample page of the comments API
document, seed 000): short praise, long multi-line reviews with JD's "tag:value" lines, JD's default
filler texts, identical template texts many users paste, complaints, and praise over a complaint.
"""

from __future__ import annotations

# (category path, third-level id, second-level id, brands [(name, id)], product nouns,
#  variant labels, price range in yuan)
CATEGORIES: tuple[
    tuple[
        tuple[str, str, str],
        int,
        int,
        tuple[tuple[str, int], ...],
        tuple[str, ...],
        tuple[str, ...],
        tuple[int, int],
    ],
    ...,
] = (
    (
        ("美妆护肤", "面部护肤", "精华"),
        13544,
        1420,
        (("兰蔻", 9547), ("雅诗兰黛", 11420), ("珀莱雅", 22510), ("薇诺娜", 254917)),
        ("小黑瓶精华肌底液", "抗皱紧致精华", "修护精华液", "双抗精华"),
        ("30ml", "50ml", "75ml", "100ml", "礼盒装"),
        (199, 1299),
    ),
    (
        ("手机通讯", "手机", "手机"),
        655,
        653,
        (("Apple", 14026), ("小米", 18374), ("华为", 8557), ("荣耀", 325405)),
        ("5G智能手机", "影像旗舰手机", "长续航手机"),
        ("8GB+256GB 黑色", "12GB+256GB 白色", "12GB+512GB 蓝色", "16GB+1TB 钛金属"),
        (1299, 8999),
    ),
    (
        ("家用电器", "厨房小电", "电饭煲"),
        753,
        752,
        (("美的", 3506), ("苏泊尔", 8520), ("九阳", 8888)),
        ("IH电饭煲", "智能电饭锅", "迷你电饭煲"),
        ("3L", "4L", "5L"),
        (159, 899),
    ),
    (
        ("食品饮料", "休闲食品", "坚果炒货"),
        1583,
        1585,
        (("三只松鼠", 108374), ("良品铺子", 53620), ("百草味", 35430)),
        ("每日坚果", "夏威夷果", "碧根果", "坚果礼盒"),
        ("750g/30袋", "500g", "1000g", "礼盒1.5kg"),
        (29, 199),
    ),
    (
        ("服饰内衣", "男装", "T恤"),
        1349,
        1342,
        (("优衣库", 18596), ("海澜之家", 17963), ("森马", 17851)),
        ("纯棉短袖T恤", "圆领打底衫", "宽松休闲T恤"),
        ("白色 M", "白色 L", "黑色 M", "黑色 L", "藏青 XL", "灰色 XXL"),
        (39, 199),
    ),
    (
        ("母婴", "奶粉", "婴幼儿奶粉"),
        1525,
        1523,
        (("飞鹤", 19317), ("美赞臣", 12110), ("爱他美", 38420)),
        ("婴幼儿配方奶粉", "较大婴儿配方奶粉"),
        ("1段 800g", "2段 800g", "3段 800g"),
        (199, 499),
    ),
    (
        ("运动户外", "运动鞋包", "跑步鞋"),
        9756,
        9749,
        (("李宁", 7450), ("安踏", 5672), ("Nike", 8563)),
        ("缓震跑步鞋", "轻量竞速跑鞋", "休闲运动鞋"),
        ("39", "40", "41", "42", "43", "44"),
        (199, 1099),
    ),
    (
        ("电脑、办公", "外设产品", "鼠标"),
        690,
        686,
        (("罗技", 8740), ("雷蛇", 12566), ("小米", 18374)),
        ("无线蓝牙鼠标", "游戏鼠标", "静音办公鼠标"),
        ("石墨黑", "珍珠白", "粉色"),
        (49, 699),
    ),
    (
        ("个护化妆", "洗发护发", "洗发水"),
        11922,
        1396,
        (("海飞丝", 7905), ("阿道夫", 253648), ("滋源", 128004)),
        ("去屑洗发水", "控油蓬松洗发露", "无硅油洗发水"),
        ("400ml", "750ml", "1L", "两瓶装"),
        (39, 159),
    ),
    (
        ("家居日用", "收纳用品", "收纳箱"),
        13768,
        1620,
        (("禧天龙", 69680), ("茶花", 12960), ("爱丽思", 18640)),
        ("加厚塑料收纳箱", "衣物整理箱", "可折叠储物箱"),
        ("35L 单个", "55L 单个", "55L 三个装", "80L 两个装"),
        (29, 239),
    ),
)

# Review texts with their ground truth: what a reader takes each one to say about which aspect, as
# (aspect, polarity) pairs with the aspect ids of jd_assets' review signals (logistics, packaging, price,
# quality, authenticity, service, appearance, size_fit, taste_smell, efficacy, battery, noise, comfort,
# freshness, portion, ...). An empty tuple: the text names no aspect ("老婆很喜欢"). Labelled by hand when
# the texts were written; the truth endpoint serves it so end-to-end tests can assert exact signals.
Truth = tuple[tuple[str, str], ...]
POS, NEG = "positive", "negative"

POSITIVE_FRAGMENTS: dict[str, Truth] = {
    "质量非常好": (("quality", POS),),
    "与卖家描述的完全一致": (),
    "发货速度非常快": (("logistics", POS),),
    "包装非常仔细、严实": (("packaging", POS),),
    "物流公司服务态度很好": (("logistics", POS),),
    "运送速度很快": (("logistics", POS),),
    "很满意的一次购物": (),
    "做工精细": (("quality", POS),),
    "性价比很高": (("price", POS),),
    "已经多次回购了": (),
    "老婆很喜欢": (),
    "快递当天就收到": (("logistics", POS),),
    "活动购买,价格比平时便宜多了": (("price", POS),),
    "细节、品质、做工都非常好": (("quality", POS),),
    "用着很顺手": (),
    "颜值很高": (("appearance", POS),),
    "味道很好": (("taste_smell", POS),),
    "孩子很喜欢": (),
    "尺码标准": (("size_fit", POS),),
    "没有异味": (("taste_smell", POS),),
    "比专柜便宜": (("price", POS),),
    "赠品也很多": (("price", POS),),
    "京东物流一如既往的快": (("logistics", POS),),
    "客服态度很好,有问必答": (("service", POS),),
    "第二次购买了,一如既往的好": (),
    "送人自用都很不错": (),
    "吸收很快,不油腻": (("efficacy", POS),),
    "续航很给力": (("battery", POS),),
    "声音很小": (("noise", POS),),
    "手感很好": (("comfort", POS),),
    "分量很足": (("portion", POS),),
    "日期很新鲜": (("freshness", POS),),
}
NEUTRAL_FRAGMENTS: dict[str, Truth] = {
    "还行吧": (),
    "一般般": (),
    "中规中矩": (),
    "价格有点贵": (("price", NEG),),
    "跟图片有点色差": (("appearance", NEG),),
    "还没用,用了再来评价": (),
    "凑合能用": (),
    "包装有点简陋": (("packaging", NEG),),
    "物流有点慢": (("logistics", NEG),),
    "尺码偏大一点": (("size_fit", NEG),),
}
NEGATIVE_TEXTS: dict[str, Truth] = {
    "收到就是坏的,联系客服一直推脱,非常失望": (("quality", NEG), ("service", NEG)),
    "用了两天就坏了,质量太差了": (("quality", NEG),),
    "和描述严重不符,差评": (),
    "包装破损,里面的东西都洒了,再也不会买了": (("packaging", NEG),),
    "味道很刺鼻,怀疑不是正品": (("taste_smell", NEG), ("authenticity", NEG)),
    "快递员态度恶劣,不送上门": (("logistics", NEG),),
    "等了一个星期才到,客服不回复": (("logistics", NEG), ("service", NEG)),
    "买完就降价,保价还不给处理": (("price", NEG), ("service", NEG)),
    "还没收到。为什么不送上门。": (("logistics", NEG),),
    "做工粗糙,线头很多,已经申请退货": (("quality", NEG),),
    "严重过敏,脸上起了很多小疙瘩": (("efficacy", NEG),),
    "少发了一件,联系客服没人理": (("service", NEG),),
}
#: Good stars over a complaint (JD's "hidden complaints"): praise with one negative aspect, or none at all.
MIXED_TEXTS: dict[str, Truth] = {
    "质量很好,就是价格比较贵": (("quality", POS), ("price", NEG)),
    "东西不错,但是物流太慢了": (("logistics", NEG),),
    "还没收到。为什么不送上门。": (("logistics", NEG),),
    "颜值很高,可惜包装有点简陋": (("appearance", POS), ("packaging", NEG)),
    "味道很好,就是分量有点少": (("taste_smell", POS), ("portion", NEG)),
    "做工精细,不过尺码偏小": (("quality", POS), ("size_fit", NEG)),
    "一点也不贵,但是客服态度太差了": (("price", POS), ("service", NEG)),
}
#: JD's structured review lines: "tag:value" lines; each tag is a (tag, value) pair of the truth. The
#: tags name no aspect of their own (the values are drawn at random, so "外观:性价比很高" would be noise).
MULTILINE_TEMPLATES = (
    "使用感受:{a}\n其他特色:{b}\n{c}",
    "购买体验:{a}\n使用感受:{b}\n{c}",
    "{a}\n{b},{c}",
)
#: Whole texts posted verbatim by many different users (JD's "template" reviews).
TEMPLATE_TEXTS: dict[str, Truth] = {
    "非常好,物美价廉,值得购买!": (("price", POS), ("quality", POS)),
    "东西收到了,质量很好,和描述的一样,好评!": (("quality", POS),),
    "真的很喜欢,完全超出期望值,发货速度非常快,包装非常仔细、严实,物流公司服务态度很好,"
    "运送速度很快,很满意的一次购物": (("logistics", POS), ("packaging", POS)),
    "好评好评好评": (),
    "宝贝收到了,非常满意,下次还来": (),
}
DEFAULT_TEXTS = ("此用户未填写评价内容", "此用户未及时填写评价内容，系统默认好评！")
SHORT_TEXTS = ("好", "好用", "不错", "满意", "很好", "喜欢", "可以", "赞")
EMOJI = ("👍", "😊", "❤️", "🎉", "💯", "😄", "🌹", "👌", "😘", "🔥")
ANGRY_EMOJI = ("😡", "👎", "😤", "💢")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN_CHARS = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红梅鑫波斌宇浩凯"
NICK_WORDS = (
    "鱼人巫妖王",
    "柚子皮橘子味",
    "快乐的小熊",
    "追风少年",
    "爱吃橘子的猫",
    "星辰大海",
    "小确幸",
    "午后阳光",
    "一只小透明",
    "今天也要加油",
    "晴天娃娃",
    "蓝色海洋",
    "奶茶续命",
    "不吃香菜",
)
NICK_MASK_HEADS = "发玉小大阿老金李王张刘陈杨"
NICK_MASK_TAILS = "桑子哥姐猫熊鱼a1x"

ADDRESSES = (
    ("北京", "北京市", "朝阳区", "望京街道"),
    ("北京", "北京市", "海淀区", "中关村街道"),
    ("上海", "上海市", "浦东新区", "张江镇"),
    ("上海", "上海市", "徐汇区", "漕河泾街道"),
    ("广东", "深圳市", "南山区", "粤海街道"),
    ("广东", "广州市", "天河区", "石牌街道"),
    ("浙江", "杭州市", "西湖区", "文新街道"),
    ("江苏", "南京市", "鼓楼区", "华侨路街道"),
    ("四川", "成都市", "武侯区", "玉林街道"),
    ("湖北", "武汉市", "洪山区", "珞南街道"),
    ("陕西", "西安市", "雁塔区", "小寨路街道"),
    ("山东", "青岛市", "市南区", "八大关街道"),
    ("福建", "厦门市", "思明区", "鹭江街道"),
    ("湖南", "长沙市", "岳麓区", "望月湖街道"),
    ("河南", "郑州市", "金水区", "花园路街道"),
    ("重庆", "重庆", "渝中区", "解放碑街道"),
)
ROADS = ("建设路", "人民路", "解放路", "中山路", "科技园路", "长江路", "文化路", "和平路", "新华路")
COMMUNITIES = ("阳光花园", "锦绣家园", "翠苑小区", "幸福里", "金色家园", "书香门第", "滨江公寓")

SORT_CENTERS = ("北京亚一", "上海嘉定", "广州黄埔", "武汉亚一", "成都青白江", "西安航天", "杭州萧山")
COURIERS = ("张师傅", "李师傅", "王师傅", "刘师傅", "陈师傅")
STATE_REMARKS = {
    "WAIT_SELLER_STOCK_OUT": "等待出库",
    "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
    "FINISHED_L": "完成",
    "TRADE_CANCELED": "取消",
    "LOCKED": "已锁定",
    "POP_ORDER_PAUSE": "暂停",
}
SHOP_NAMES = ("京选优品旗舰店", "沙盒数码专营店", "悦享生活官方旗舰店")
